/**
 * The attention view's exports: the figure as SVG or PNG (the current layer,
 * heads, measure and threshold, every row, with a caption) and the data
 * behind it as JSON. Downloads start from the module's toolbar buttons, as
 * LIT's own download buttons do (a blob URL on a temporary link).
 */

import {attentionSvg, figureCaption} from '../lib/export_svg';
import {ColumnLayout} from '../lib/geometry';
import {Edge} from '../lib/threshold';

import {ROW_HEIGHT, Scene, sceneLayout} from './canvas_paint';

/** Everything an export says about what is on screen. */
export interface ExportState {
  model: string;
  layer: number;
  heads: number[];
  measure: string;
  threshold: number;
  zeroSpecials: boolean;
  hideSpecials: boolean;
  tokens: string[];
  /** `[T, T]` matrix the curves come from (after heads, specials). */
  matrix: ArrayLike<ArrayLike<number>>;
  /** The curves drawn (the pointed token's when one is pointed at). */
  edges: Edge[];
  pointed: {index: number, side: 'left'|'right'}|null;
}

/** File name stem: exbert_attention_minilm_layer4. */
export function exportStem(state: ExportState): string {
  return `exbert_attention_${state.model.replace(/[^A-Za-z0-9_-]+/g, '_')}_layer${state.layer}`;
}

/** The figure as an SVG document (all rows, columns without head matrices). */
export function figureSvg(scene: Scene, state: ExportState): string {
  const {textWidth} = sceneLayout(scene);
  const layout: ColumnLayout = {
    top: 4, rowHeight: ROW_HEIGHT, leftX: textWidth + 8, rightX: textWidth + 8 + 170,
  };
  return attentionSvg({
    shown: scene.shown,
    rowOf: scene.rowOf,
    muted: scene.special,
    edges: state.edges,
    textWidth,
    caption: figureCaption(state),
  }, layout);
}

/** The data as JSON: state, tokens, drawn edges and the matrix (4 decimals). */
export function dataJson(state: ExportState): string {
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return JSON.stringify({
    model: state.model,
    layer: state.layer,
    heads: state.heads.length === 0 ? 'all' : state.heads,
    measure: state.measure,
    threshold: state.threshold,
    zero_specials: state.zeroSpecials,
    hide_specials: state.hideSpecials,
    pointed: state.pointed,
    tokens: state.tokens,
    edges: state.edges.map(e => [e.from, e.to, round(e.weight)]),
    matrix: Array.from(state.matrix, row => Array.from(row, round)),
  });
}

/** Starts a download of `blob` as `name`. */
export function download(name: string, blob: Blob) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The SVG rasterised to PNG at up to 2x (less for long inputs, which stay
 * under the browser's canvas size limit of 32,767 px a side).
 */
export async function svgToPng(svgText: string): Promise<Blob> {
  const image = new Image();
  const url = URL.createObjectURL(new Blob([svgText], {type: 'image/svg+xml'}));
  try {
    await new Promise<void>((resolve, reject) => {
      image.onload = () => {resolve();};
      image.onerror = () => {reject(new Error('the SVG could not be rasterised'));};
      image.src = url;
    });
    const scale = Math.min(2, 32000 / Math.max(image.width, image.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(image.width * scale);
    canvas.height = Math.round(image.height * scale);
    const ctx = canvas.getContext('2d')!;
    ctx.scale(scale, scale);
    ctx.drawImage(image, 0, 0);
    return await new Promise<Blob>((resolve, reject) => {
      canvas.toBlob(b => {
        if (b) resolve(b); else reject(new Error('PNG encoding failed'));
      }, 'image/png');
    });
  } finally {
    URL.revokeObjectURL(url);
  }
}
