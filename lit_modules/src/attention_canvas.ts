/**
 * `<exbert-attention-canvas>`: the attention view's drawing, on two stacked
 * canvases. The base layer holds the head matrices, the tokens and every
 * kept curve of the rows on screen; it is repainted when the scene (layer,
 * heads, measure, threshold, specials) changes or the columns scroll. The
 * highlight layer holds what pointing adds (the pointed token's curves and
 * per-head attention, greyed future tokens) and is the only one repainted on
 * hover. Hover and click are hit-tested by row geometry (lib/geometry.ts),
 * not by an event listener per token. A long input scrolls both columns
 * together; the minimap beside them shows where the drawn attention goes,
 * including rows out of view.
 */

// tslint:disable:no-new-decorators
import {css, html, LitElement} from 'lit';
import {customElement, property, query} from 'lit/decorators.js';

import {Focus, futureTokens} from '../lib/attention';
import {rowAt, rowCentre, visibleRows} from '../lib/geometry';
import {headMatrices} from '../lib/head_matrices';
import {attentionBins, rowAtMinimap, weightOutside, windowMark} from '../lib/minimap';
import {Edge, focusedEdges} from '../lib/threshold';

import {paintSegments} from './canvas_paint';
import {CELL_WIDTH, paintEdges, paintHeadMatrix, paintMinimap, paintTokens, Scene, SceneLayout, sceneLayout, sizeCanvas, windowEdges} from './canvas_paint';

const MINIMAP_WIDTH = 14;

/** What is under the pointer. */
type Hit = {kind: 'token', focus: Focus}|{kind: 'head', head: number}|null;

@customElement('exbert-attention-canvas')
export class ExbertAttentionCanvas extends LitElement {
  static override styles = css`
    :host { display: flex; flex-direction: column; min-height: 0; }
    .columns { display: flex; gap: 4px; }
    .scroller { overflow-y: auto; overflow-x: hidden; position: relative; flex: none; }
    .sizer { position: relative; }
    .stage { position: sticky; top: 0; }
    canvas.layer { position: absolute; left: 0; top: 0; }
    canvas.highlight { cursor: default; }
    canvas.highlight.pointer { cursor: pointer; }
    .minimap-column { display: flex; flex-direction: column; align-items: center; }
    canvas.minimap { cursor: pointer; }
    .beyond { font-size: 11px; color: #5f6368; text-align: right; padding-top: 2px; }
  `;

  @property({attribute: false}) scene: Scene|null = null;
  @property({attribute: false}) frozen: Focus|null = null;
  /** Height of the scrolling window in CSS px (the view gives what it has). */
  @property({type: Number}) viewHeight = 600;
  onHover: (focus: Focus|null) => void = () => {};
  onTokenClick: (focus: Focus) => void = () => {};
  onTokenDoubleClick: (index: number) => void = () => {};
  onHeadClick: (head: number, shift: boolean) => void = () => {};

  /** Milliseconds of the last base and highlight paints (the benchmark reads them). */
  readonly paintMs = {base: 0, highlight: 0, basePaints: 0, highlightPaints: 0, baseAt: 0};

  @query('.scroller') private scroller?: HTMLDivElement;
  @query('canvas.base') private base?: HTMLCanvasElement;
  @query('canvas.highlight') private highlight?: HTMLCanvasElement;
  @query('canvas.minimap') private minimap?: HTMLCanvasElement;
  @query('.beyond') private beyond?: HTMLDivElement;
  private hover: Focus|null = null;
  private layout: SceneLayout|null = null;
  private scrollFrame = 0;

  get pointed(): Focus|null {
    return this.hover ?? this.frozen;
  }

  /** The curves shown now (all kept ones, or the pointed token's), for tests and exports. */
  shownEdges(): Edge[] {
    return this.scene === null ? [] : focusedEdges(this.scene.outOf, this.pointed)
        .filter(e => this.scene!.rowOf[e.from] >= 0 && this.scene!.rowOf[e.to] >= 0);
  }

  /** Tokens greyed out now: after the pointed token, for a causal model (tests). */
  greyedTokens(): number[] {
    const focus = this.pointed;
    if (this.scene === null || !this.scene.causal || focus === null) return [];
    return futureTokens(this.scene.shown.length, focus.index)
        .flatMap((f, i) => (f && this.scene!.rowOf[i] >= 0 ? [i] : []));
  }

  /** Client coordinates of a token's row centre, scrolled into view (tests, bench). */
  tokenPoint(index: number, side: 'left'|'right'): {x: number, y: number}|null {
    const row = this.scene?.rowOf[index] ?? -1;
    if (row < 0 || this.layout === null || !this.scroller) return null;
    this.scrollToRow(row);
    const box = this.scroller.getBoundingClientRect();
    const y = rowCentre(row, this.layout) - this.scroller.scrollTop + box.top;
    const x = box.left + (side === 'left' ? this.layout.leftX - 10 : this.layout.rightX + 10);
    return {x, y};
  }

  /** Client coordinates of head h's column in the left matrix, first row on screen. */
  headPoint(head: number): {x: number, y: number}|null {
    if (this.layout === null || !this.scroller) return null;
    const box = this.scroller.getBoundingClientRect();
    return {x: box.left + this.layout.leftMatrixX + (head - 0.5) * CELL_WIDTH,
            y: box.top + this.layout.top + this.layout.rowHeight / 2};
  }

  /** Scrolls so `row` is on screen (centred when it was not). */
  scrollToRow(row: number) {
    if (this.layout === null || !this.scroller) return;
    const [first, last] = this.window();
    if (row >= first + 1 && row <= last - 1) return;
    this.scroller.scrollTop = Math.max(0, rowCentre(row, this.layout) - this.viewport() / 2);
    this.paintAll();
  }

  override render() {
    const layout = this.scene === null ? null : sceneLayout(this.scene);
    this.layout = layout;
    if (layout === null) return html``;
    const view = Math.min(layout.totalHeight, this.viewHeight);
    const long = layout.totalHeight > view;
    // clang-format off
    return html`
      <div class="columns">
      <div class="scroller" style="height:${view}px;width:${layout.width}px"
          @scroll=${this.onScroll}>
        <div class="sizer" style="height:${layout.totalHeight}px">
          <div class="stage" style="height:${view}px">
            <canvas class="layer base"></canvas>
            <canvas class="layer highlight"
                @mousemove=${this.onMove} @mouseleave=${this.onLeave}
                @click=${this.onClick} @dblclick=${this.onDoubleClick}></canvas>
          </div>
        </div>
      </div>
      ${long ? html`
        <div class="minimap-column" title="All rows: the frame is the part on screen; blue is where the drawn attention goes. Click to scroll there.">
          <canvas class="minimap" @click=${this.onMinimapClick}></canvas>
        </div>` : ''}
      </div>
      ${long ? html`<div class="beyond"
          title="Share of the drawn attention that goes to rows scrolled out of view"></div>` : ''}`;
    // clang-format on
  }

  override updated() {
    this.paintAll();
  }

  private viewport(): number {
    return Math.min(this.layout?.totalHeight ?? 0, this.viewHeight);
  }

  private window(): [number, number] {
    if (this.layout === null) return [0, -1];
    return visibleRows(this.scroller?.scrollTop ?? 0, this.viewport(), this.layout,
                       this.layout.numRows);
  }

  private paintAll() {
    this.paintBase();
    this.paintHighlight();
  }

  /** Base layer: head matrices (overview), tokens and kept curves of the window. */
  private paintBase() {
    const scene = this.scene;
    const layout = this.layout;
    if (scene === null || layout === null || !this.base) return;
    const start = performance.now();
    const scrollTop = this.scroller?.scrollTop ?? 0;
    const ctx = sizeCanvas(this.base, layout.width, this.viewport());
    const [first, last] = this.window();
    paintHeadMatrix(ctx, scene, layout, scene.overview.left, layout.leftMatrixX, first, last, scrollTop);
    paintHeadMatrix(ctx, scene, layout, scene.overview.right, layout.rightMatrixX, first, last, scrollTop);
    paintSegments(ctx, scene, layout, first, last, scrollTop);
    paintTokens(ctx, scene, layout, first, last, scrollTop);
    paintEdges(ctx, scene, layout, windowEdges(scene, first, last), scrollTop);
    this.base.style.opacity = this.pointed === null ? '1' : '0.12';
    this.paintMs.baseAt = performance.now();
    this.paintMs.base = this.paintMs.baseAt - start;
    this.paintMs.basePaints++;
  }

  /** Highlight layer: the pointed token's curves, per-head attention and future tokens. */
  private paintHighlight() {
    const scene = this.scene;
    const layout = this.layout;
    if (scene === null || layout === null || !this.highlight || !this.base) return;
    const start = performance.now();
    const scrollTop = this.scroller?.scrollTop ?? 0;
    const height = this.viewport();
    const ctx = sizeCanvas(this.highlight, layout.width, height);
    const focus = this.pointed;
    const [first, last] = this.window();
    this.base.style.opacity = focus === null ? '1' : '0.12';
    if (focus !== null) {
      const row = scene.rowOf[focus.index];
      if (row >= 0) {
        ctx.fillStyle = this.frozen !== null && this.frozen.index === focus.index &&
                this.frozen.side === focus.side ? 'rgba(26, 115, 232, 0.28)' :
                                                  'rgba(26, 115, 232, 0.14)';
        const x = focus.side === 'left' ? layout.leftX - layout.textWidth : layout.rightX;
        ctx.fillRect(x, layout.top + row * layout.rowHeight - scrollTop, layout.textWidth,
                     layout.rowHeight);
      }
      // The base layer is faded: tokens and matrices are redrawn at full strength.
      paintSegments(ctx, scene, layout, first, last, scrollTop);
      paintTokens(ctx, scene, layout, first, last, scrollTop);
      if (scene.att.length > 0) {
        const matrices = headMatrices(scene.att, scene.overview, focus);
        paintHeadMatrix(ctx, scene, layout, matrices.left, layout.leftMatrixX, first, last, scrollTop);
        paintHeadMatrix(ctx, scene, layout, matrices.right, layout.rightMatrixX, first, last, scrollTop);
      }
      paintEdges(ctx, scene, layout, this.shownEdges(), scrollTop);
      if (scene.causal) {
        const future = futureTokens(scene.shown.length, focus.index);
        ctx.fillStyle = 'rgba(255, 255, 255, 0.75)';
        for (let r = first; r <= last; r++) {
          if (!future[scene.rowTokens[r]]) continue;
          const y = layout.top + r * layout.rowHeight - scrollTop;
          ctx.fillRect(layout.leftX - layout.textWidth, y, layout.textWidth, layout.rowHeight);
          ctx.fillRect(layout.rightX, y, layout.textWidth, layout.rowHeight);
        }
      }
    }
    this.paintMinimap(first, last);
    this.paintMs.highlight = performance.now() - start;
    this.paintMs.highlightPaints++;
  }

  private paintMinimap(first: number, last: number) {
    const scene = this.scene;
    const layout = this.layout;
    if (scene === null || layout === null || !this.minimap) return;
    const height = this.viewport();
    const edges = this.pointed !== null ? this.shownEdges() : (() => {
      const out: Edge[] = [];
      for (let r = first; r <= last; r++) out.push(...scene.outOf[scene.rowTokens[r]]);
      return out;
    })();
    const bins = attentionBins(edges, scene.rowOf, layout.numRows, Math.max(1, Math.floor(height / 3)));
    paintMinimap(this.minimap, bins, windowMark(first, last, layout.numRows, height),
                 MINIMAP_WIDTH, height);
    if (this.beyond) {
      const share = weightOutside(edges, scene.rowOf, first, last);
      this.beyond.textContent = `${Math.round(share * 100)}% of the drawn attention goes beyond view`;
    }
  }

  private hitTest(e: MouseEvent): Hit {
    const layout = this.layout;
    if (layout === null) return null;
    const y = e.offsetY + (this.scroller?.scrollTop ?? 0);
    const row = rowAt(y, layout, layout.numRows);
    const x = e.offsetX;
    const heads = this.scene?.overview.left.length ?? 0;
    const inMatrix = (x0: number) => x >= x0 && x < x0 + heads * CELL_WIDTH;
    if (inMatrix(layout.leftMatrixX) || inMatrix(layout.rightMatrixX)) {
      const x0 = inMatrix(layout.leftMatrixX) ? layout.leftMatrixX : layout.rightMatrixX;
      return {kind: 'head', head: Math.floor((x - x0) / CELL_WIDTH) + 1};
    }
    if (row < 0) return null;
    const index = this.scene!.rowTokens[row];
    if (x >= layout.leftX - layout.textWidth && x < layout.leftX) {
      return {kind: 'token', focus: {index, side: 'left'}};
    }
    if (x >= layout.rightX && x < layout.rightX + layout.textWidth) {
      return {kind: 'token', focus: {index, side: 'right'}};
    }
    return null;
  }

  private setHover(focus: Focus|null) {
    const same = focus === this.hover || (focus !== null && this.hover !== null &&
        focus.index === this.hover.index && focus.side === this.hover.side);
    if (same) return;
    this.hover = focus;
    this.paintHighlight();
    this.onHover(focus);
  }

  private readonly onMove = (e: MouseEvent) => {
    const hit = this.hitTest(e);
    this.highlight?.classList.toggle('pointer', hit !== null);
    if (this.highlight) {
      this.highlight.title = hit?.kind === 'head' ?
          `Head ${hit.head}: click selects it alone (again: all heads), shift-click adds or removes it` :
          '';
    }
    this.setHover(hit?.kind === 'token' ? hit.focus : null);
  };

  private readonly onLeave = () => {
    this.setHover(null);
  };

  private readonly onClick = (e: MouseEvent) => {
    const hit = this.hitTest(e);
    if (hit?.kind === 'token') this.onTokenClick(hit.focus);
    if (hit?.kind === 'head') this.onHeadClick(hit.head, e.shiftKey);
  };

  private readonly onDoubleClick = (e: MouseEvent) => {
    const hit = this.hitTest(e);
    if (hit?.kind === 'token') this.onTokenDoubleClick(hit.focus.index);
  };

  private readonly onScroll = () => {
    if (this.scrollFrame) return;
    this.scrollFrame = requestAnimationFrame(() => {
      this.scrollFrame = 0;
      this.paintAll();
    });
  };

  private readonly onMinimapClick = (e: MouseEvent) => {
    if (this.layout === null) return;
    this.scrollToRow(rowAtMinimap(e.offsetY, this.layout.numRows, this.viewport()));
  };
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-attention-canvas': ExbertAttentionCanvas;
  }
}
