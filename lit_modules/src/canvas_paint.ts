/**
 * Painting of the attention view's canvases: the scene (what to show, built
 * by the module from one layer's attention) and the functions that draw a
 * scrolled window of it. Only the rows on screen are drawn, so the cost of a
 * paint follows the window, not the sentence length.
 *
 * x layout, left to right: [left head matrix] [left tokens] [curves]
 * [right tokens] [right head matrix]; rows are token rows (lib/geometry.ts).
 */

import {curveStyle, heatColor} from '../lib/colors';
import {ColumnLayout, rowCentre} from '../lib/geometry';
import {HeadColumns} from '../lib/head_matrices';
import {segmentBoundaryRow} from '../lib/segments';
import {Edge} from '../lib/threshold';

export const ROW_HEIGHT = 20;
export const CELL_WIDTH = 8;
const CHAR_WIDTH = 7.5;
const CURVE_SPAN = 170;
const GAP = 6;
const FONT = '13px Roboto, Arial, sans-serif';
const CURVE_RGB = '26, 115, 232';
/** Weights are grouped into this many styles, one canvas stroke per group. */
const STYLE_STEPS = 40;

/** Everything the canvases show for one layer, heads, measure and threshold. */
export interface Scene {
  /** Token text as shown, by token index. */
  shown: string[];
  special: boolean[];
  masked: boolean[];
  /** Tokens a generation added (the generation view marks them); absent elsewhere. */
  generated?: boolean[];
  /** Row of each token (-1 = hidden), and the token of each row. */
  rowOf: number[];
  rowTokens: number[];
  /** Kept edges out of each token, and into each token. */
  outOf: Edge[][];
  into: Edge[][];
  /** Per-head matrices `[H, T, T]` behind the head summaries; [] for rollout. */
  att: ArrayLike<ArrayLike<ArrayLike<number>>>;
  overview: {left: HeadColumns, right: HeadColumns};
  /** Selected heads (1-based; [] = all). */
  heads: number[];
  causal: boolean;
  /** Sentence pairs: each token's segment (0 = A, 1 = B); null or absent for one. */
  segments?: number[]|null;
}

export const SEGMENT_B_TINT = 'rgba(251, 188, 4, 0.16)';
export const SEGMENT_DIVIDER = '#e37400';

/**
 * A sentence pair's boundary: segment B's tokens tinted in both columns and a
 * divider line above its first row, so cross-segment curves are seen to cross it.
 */
export function paintSegments(
    ctx: CanvasRenderingContext2D, scene: Scene, layout: SceneLayout,
    first: number, last: number, scrollTop: number) {
  const segments = scene.segments;
  if (!segments) return;
  const columns = [layout.leftX - layout.textWidth, layout.rightX];
  ctx.fillStyle = SEGMENT_B_TINT;
  for (let r = first; r <= last; r++) {
    if (segments[scene.rowTokens[r]] !== 1) continue;
    const y = layout.top + r * layout.rowHeight - scrollTop;
    for (const x of columns) ctx.fillRect(x, y, layout.textWidth, layout.rowHeight);
  }
  const row = segmentBoundaryRow(segments, scene.rowTokens);
  if (row === null || row < first || row > last + 1) return;
  const y = layout.top + row * layout.rowHeight - scrollTop;
  ctx.strokeStyle = SEGMENT_DIVIDER;
  ctx.lineWidth = 2;
  ctx.setLineDash([6, 3]);
  ctx.beginPath();
  for (const x of columns) {
    ctx.moveTo(x, y);
    ctx.lineTo(x + layout.textWidth, y);
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

/** Column positions of a scene. */
export interface SceneLayout extends ColumnLayout {
  textWidth: number;
  /** x of the left and right head matrices. */
  leftMatrixX: number;
  rightMatrixX: number;
  width: number;
  numRows: number;
  totalHeight: number;
}

export function sceneLayout(scene: Scene): SceneLayout {
  let longest = 0;
  scene.rowTokens.forEach(t => {
    longest = Math.max(longest, scene.shown[t].length);
  });
  const textWidth = Math.max(40, longest * CHAR_WIDTH) + 12;
  const matrixWidth = scene.overview.left.length * CELL_WIDTH;
  const leftMatrixX = 4;
  const leftX = leftMatrixX + matrixWidth + GAP + textWidth;
  const rightX = leftX + CURVE_SPAN;
  const rightMatrixX = rightX + textWidth + GAP;
  const numRows = scene.rowTokens.length;
  return {
    top: 4, rowHeight: ROW_HEIGHT, leftX, rightX, textWidth, leftMatrixX, rightMatrixX,
    width: rightMatrixX + matrixWidth + 4, numRows,
    totalHeight: 8 + numRows * ROW_HEIGHT,
  };
}

/** Canvas sized for CSS pixels w x h at the device pixel ratio (crisp text). */
export function sizeCanvas(canvas: HTMLCanvasElement, w: number, h: number):
    CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const pw = Math.max(1, Math.round(w * dpr));
  const ph = Math.max(1, Math.round(h * dpr));
  if (canvas.width !== pw || canvas.height !== ph) {
    canvas.width = pw;
    canvas.height = ph;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return ctx;
}

/** The edges the base layer shows for rows first..last: out of or into them. */
export function windowEdges(scene: Scene, first: number, last: number): Edge[] {
  const edges: Edge[] = [];
  for (let r = first; r <= last; r++) {
    const t = scene.rowTokens[r];
    for (const e of scene.outOf[t]) if (scene.rowOf[e.to] >= 0) edges.push(e);
    for (const e of scene.into[t]) {
      const from = scene.rowOf[e.from];
      if (from >= 0 && (from < first || from > last)) edges.push(e);
    }
  }
  return edges;
}

/**
 * Curves, batched by style: one path and one stroke per weight step (a
 * stroke per curve costs ~10x more at thousands of curves). `scrollTop`
 * shifts rows into the window.
 */
export function paintEdges(
    ctx: CanvasRenderingContext2D, scene: Scene, layout: SceneLayout,
    edges: Edge[], scrollTop: number) {
  const groups = new Map<number, Edge[]>();
  for (const e of edges) {
    const step = Math.min(STYLE_STEPS, Math.max(1, Math.round(e.weight * STYLE_STEPS)));
    let group = groups.get(step);
    if (group === undefined) groups.set(step, group = []);
    group.push(e);
  }
  const x0 = layout.leftX;
  const x1 = layout.rightX;
  const mx = (x0 + x1) / 2;
  for (const [step, group] of groups) {
    const style = curveStyle(step / STYLE_STEPS);
    ctx.strokeStyle = `rgba(${CURVE_RGB}, ${style.opacity})`;
    ctx.lineWidth = style.width;
    ctx.beginPath();
    for (const e of group) {
      const y0 = rowCentre(scene.rowOf[e.from], layout) - scrollTop;
      const y1 = rowCentre(scene.rowOf[e.to], layout) - scrollTop;
      ctx.moveTo(x0, y0);
      ctx.bezierCurveTo(mx, y0, mx, y1, x1, y1);
    }
    ctx.stroke();
  }
}

/** Token text of rows first..last in both columns. */
export function paintTokens(
    ctx: CanvasRenderingContext2D, scene: Scene, layout: SceneLayout,
    first: number, last: number, scrollTop: number) {
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  for (let r = first; r <= last; r++) {
    const t = scene.rowTokens[r];
    const y = rowCentre(r, layout) - scrollTop;
    ctx.fillStyle = scene.masked[t] ? '#c5221f' : scene.generated?.[t] ? '#188038' :
        scene.special[t] ? '#9aa0a6' : '#202124';
    ctx.textAlign = 'right';
    ctx.fillText(scene.shown[t], layout.leftX - 6, y);
    ctx.textAlign = 'left';
    ctx.fillText(scene.shown[t], layout.rightX + 6, y);
  }
}

/** One head matrix (a column of cells per head) for rows first..last. */
export function paintHeadMatrix(
    ctx: CanvasRenderingContext2D, scene: Scene, layout: SceneLayout,
    columns: HeadColumns, x: number, first: number, last: number, scrollTop: number) {
  const h0 = layout.rowHeight;
  for (let h = 0; h < columns.length; h++) {
    const selected = scene.heads.length === 0 || scene.heads.includes(h + 1);
    ctx.globalAlpha = selected ? 1 : 0.35;
    for (let r = first; r <= last; r++) {
      ctx.fillStyle = heatColor(columns[h][scene.rowTokens[r]]);
      ctx.fillRect(x + h * CELL_WIDTH, layout.top + r * h0 - scrollTop, CELL_WIDTH - 1, h0 - 1);
    }
  }
  ctx.globalAlpha = 1;
  // Selected heads framed, so the matrix shows the selection like the chips.
  if (scene.heads.length > 0) {
    ctx.strokeStyle = '#1a73e8';
    ctx.lineWidth = 1;
    const top = layout.top + first * h0 - scrollTop;
    const height = (last - first + 1) * h0;
    for (const head of scene.heads) {
      ctx.strokeRect(x + (head - 1) * CELL_WIDTH - 0.5, top - 0.5, CELL_WIDTH, height);
    }
  }
}

/** The minimap: where the drawn weight lands (bins) and the window on screen. */
export function paintMinimap(
    canvas: HTMLCanvasElement, bins: Float32Array, mark: [number, number],
    width: number, height: number) {
  const ctx = sizeCanvas(canvas, width, height);
  ctx.fillStyle = '#f1f3f4';
  ctx.fillRect(0, 0, width, height);
  const binHeight = height / Math.max(1, bins.length);
  for (let b = 0; b < bins.length; b++) {
    if (bins[b] <= 0) continue;
    ctx.fillStyle = `rgba(${CURVE_RGB}, ${0.15 + 0.85 * bins[b]})`;
    ctx.fillRect(2, b * binHeight, width - 4, Math.max(1, binHeight));
  }
  ctx.strokeStyle = '#202124';
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, mark[0] + 0.5, width - 1, mark[1] - 1);
}
