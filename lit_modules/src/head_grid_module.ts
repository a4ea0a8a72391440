/**
 * The head grid as a LIT module: for every layer (rows) and head (columns)
 * of a model, what the tokens it attends to most are, over the model's whole
 * corpus index (the `exbert_head_profiles` interpreter counts them from the
 * stored attention summaries). Each cell is labelled with the head's
 * characteristic label and coloured by its lift over the base rate; a picked
 * label recolours every cell by that label's share. Hover a cell for its top
 * five labels; click it to show that head in the attention view and search
 * the corpus with it (exbertState.selectHead). In LIT's model comparison one
 * grid is drawn per model, side by side.
 */

// tslint:disable:no-new-decorators
import {css, html} from 'lit';
import {customElement} from 'lit/decorators.js';
import {classMap} from 'lit/directives/class-map.js';
import {styleMap} from 'lit/directives/style-map.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {ModelInfoMap, Spec} from '../../client/lib/types';

import {Cell, formatLift, formatShare, gridCells, HeadProfile, liftColor, pickerLabels, shareColor, textColorFor, topLabels} from '../lib/head_grid';

import {viewModel} from './model_group';
import {exbertState} from './view_state';

/** Name under which the server registers the head-profile interpreter. */
export const HEAD_GRID_INTERPRETER = 'exbert_head_profiles';

const FIELDS = ['dep', 'pos', 'tag', 'ent', 'offset'];
const BY = ['attended', 'attending'];

const styles = css`
  :host { font-family: 'Roboto', sans-serif; font-size: 12px; }
  .module-container { display: flex; flex-direction: column; height: 100%; }
  .module-toolbar { display: flex; align-items: center; flex-wrap: wrap; gap: 8px;
                    padding: 4px 8px; border-bottom: 1px solid #dadce0; }
  .body { flex: 1; overflow: auto; padding: 6px; display: flex; flex-wrap: wrap; gap: 12px;
          align-items: flex-start; }
  .grid { display: grid; gap: 1px; background: #dadce0; border: 1px solid #dadce0; }
  .corner, .col-head, .row-head { background: #f8f9fa; color: #5f6368; font-size: 11px;
                                  display: flex; align-items: center; justify-content: center;
                                  padding: 0 3px; }
  .cell { height: 22px; min-width: 30px; display: flex; align-items: center;
          justify-content: center; font-size: 10.5px; cursor: pointer; overflow: hidden;
          white-space: nowrap; padding: 0 2px; }
  .cell:hover { outline: 2px solid #1a73e8; outline-offset: -2px; }
  .cell.selected { outline: 2px solid #202124; outline-offset: -2px; font-weight: 500; }
  .card { min-width: 210px; border: 1px solid #dadce0; border-radius: 4px; padding: 6px; }
  .card-title { font-weight: 500; margin-bottom: 4px; }
  .card table { border-collapse: collapse; }
  .card td { padding: 1px 6px 1px 0; }
  .num { text-align: right; font-family: 'Roboto Mono', monospace; }
  .status, .hint { color: #5f6368; }
  .error { color: #c5221f; padding: 4px; }
  .legend { display: inline-flex; align-items: center; gap: 4px; color: #5f6368; }
  .swatch { display: inline-block; width: 60px; height: 8px; }
`;

/** `<exbert-head-grid-module>`. */
@customElement('exbert-head-grid-module')
export class ExbertHeadGridModule extends LitModule {
  static override title = 'exBERT Head grid';
  static override numCols = 6;
  static override duplicateForModelComparison = true;
  /** Models side by side (LIT stacks duplicates otherwise). */
  static override duplicateAsRow = true;
  static override infoMarkdown =
      'What each head attends to over the whole corpus index: per layer ' +
      '(rows) and head (columns), the label of the max-attended token (or, ' +
      '"attending", of the tokens that attend to content with the head), ' +
      'coloured by lift over a head without preference. Pick a label to ' +
      'colour by its share; hover for the top labels; click to show the head ' +
      'in the attention view and search the corpus with it.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-head-grid-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-head-grid-module>`;

  static override get styles() {
    return [sharedStyles, styles];
  }

  static override shouldDisplayModule(modelSpecs: ModelInfoMap, datasetSpec: Spec) {
    return Object.values(modelSpecs).some(
        info => info.interpreters.includes(HEAD_GRID_INTERPRETER));
  }

  @observable private field = 'dep';
  @observable private by = 'attended';
  @observable private picked: string|null = null;
  @observable.ref private profile: HeadProfile|null = null;
  @observable private hover: [number, number]|null = null;
  @observable private error = '';
  @observable private loading = false;
  /** Milliseconds from asking for a grid to its cells on screen. */
  @observable private drawMs: number|null = null;
  private requestedAt = 0;
  private pendingDraw = false;

  constructor() {
    super();
    makeObservable(this);
  }

  @computed
  get sourceModel(): string {
    return viewModel(this.model, this.appState.metadata.models);
  }

  @computed
  get available(): boolean {
    return this.model !== '' &&
        this.appState.metadata.models[this.sourceModel]?.interpreters.includes(
            HEAD_GRID_INTERPRETER) === true;
  }

  @computed
  get cells(): Cell[][] {
    if (this.profile === null) return [];
    const picked = this.picked !== null && this.profile.labels.includes(this.picked) ?
        this.picked : null;
    return gridCells(this.profile, picked);
  }

  override firstUpdated() {
    this.reactImmediately(
        () => [this.available, this.sourceModel, this.field, this.by] as const,
        ([available]) => {
          if (available) this.load();
        });
  }

  override updated() {
    if (this.pendingDraw && this.renderRoot.querySelector('.cell') !== null) {
      this.pendingDraw = false;
      this.drawMs = Math.round(performance.now() - this.requestedAt);
    }
  }

  private async load() {
    this.loading = true;
    this.requestedAt = performance.now();
    const config = {field: this.field, by: this.by};
    // The grid depends on the corpus only; LIT's API wants inputs, so one goes along.
    const input = this.selectionService.primarySelectedInputData ??
        this.appState.currentInputData[0];
    try {
      const promise = this.apiService.getInterpretations(
          input ? [input] : [], this.sourceModel, this.appState.currentDataset,
          HEAD_GRID_INTERPRETER, config, 'Counting head profiles',
          /* skipPredict: the grid needs no model outputs */ true);
      const results = await this.loadLatest('profile', promise);
      if (results === null) return;
      this.profile = (results as HeadProfile[])[0] ?? null;
      this.error = '';
      this.pendingDraw = true;
    } catch (e) {
      this.profile = null;
      this.error = `Head profiles failed: ${e instanceof Error ? e.message : e}`;
    } finally {
      this.loading = false;
    }
  }

  private selected(cell: Cell): boolean {
    return exbertState.layer === cell.layer && exbertState.heads.length === 1 &&
        exbertState.heads[0] === cell.head;
  }

  override renderImpl() {
    if (!this.available) {
      return html`<div class="hint">No corpus is indexed for this model.</div>`;
    }
    return html`
      <div class="module-container">
        <div class="module-toolbar">${this.renderControls()}</div>
        <div class="body">
          ${this.error ? html`<div class="error">${this.error}</div>` : this.renderGrid()}
          ${this.renderCard()}
        </div>
      </div>`;
  }

  private renderControls() {
    const onField = (e: Event) => {
      this.field = (e.target as HTMLSelectElement).value;
      this.picked = null;
      if (this.field === 'offset') this.by = 'attended';
    };
    const onBy = (e: Event) => {
      this.by = (e.target as HTMLSelectElement).value;
    };
    const onLabel = (e: Event) => {
      const value = (e.target as HTMLSelectElement).value;
      this.picked = value === '' ? null : value;
    };
    const labels = this.profile ? pickerLabels(this.profile) : [];
    const p = this.profile;
    const status = this.loading ? 'counting…' : p === null ? '' :
        `${p.tokens.toLocaleString()} tokens of ${p.corpus ?? 'the corpus'}` +
        (this.drawMs !== null ? ` · drawn in ${this.drawMs} ms` : '');
    const legend = this.picked === null ?
        html`<span class="legend">lift 1<span class="swatch" style="background:
            linear-gradient(to right, ${liftColor(1)}, ${liftColor(4)}, ${liftColor(16)})">
            </span>16+</span>` :
        html`<span class="legend">share 0<span class="swatch" style="background:
            linear-gradient(to right, ${shareColor(0)}, ${shareColor(1)})"></span>100%</span>`;
    return html`
      <label>field <select class="field-select" @change=${onField}>
        ${FIELDS.map(f => html`<option value=${f} ?selected=${f === this.field}>${f}</option>`)}
      </select></label>
      <label>by <select class="by-select" @change=${onBy}>
        ${BY.map(b => html`<option value=${b} ?selected=${b === this.by}
            ?disabled=${b === 'attending' && this.field === 'offset'}>${b}</option>`)}
      </select></label>
      <label>label <select class="label-select" @change=${onLabel}>
        <option value="" ?selected=${this.picked === null}>each head's top label (lift)</option>
        ${labels.map(l => html`<option value=${l} ?selected=${l === this.picked}>${l}</option>`)}
      </select></label>
      ${legend}
      <span class="status">${status}</span>`;
  }

  private renderGrid() {
    const cells = this.cells;
    if (cells.length === 0) return html`<div class="hint">${this.loading ? 'Counting…' : ''}</div>`;
    const heads = cells[0].length;
    const gridStyle = styleMap({
      'grid-template-columns': `24px repeat(${heads}, minmax(30px, 44px))`,
    });
    const onLeave = () => { this.hover = null; };
    return html`
      <div class="grid" style=${gridStyle} @mouseleave=${onLeave}>
        <div class="corner">L\\H</div>
        ${cells[0].map(c => html`<div class="col-head">${c.head}</div>`)}
        ${cells.map(row => html`
          <div class="row-head">${row[0].layer}</div>
          ${row.map(cell => this.renderCell(cell))}`)}
      </div>`;
  }

  private renderCell(cell: Cell) {
    const background = this.picked === null ? liftColor(cell.lift) : shareColor(cell.share);
    const style = styleMap({background, color: textColorFor(background)});
    const title = `${cell.layer}-${cell.head}: ${cell.label} ${formatShare(cell.share)} ` +
        `(${formatLift(cell.lift)})`;
    const onEnter = () => { this.hover = [cell.layer - 1, cell.head - 1]; };
    const onClick = () => { exbertState.selectHead(cell.layer, cell.head); };
    return html`
      <div class=${classMap({cell: true, selected: this.selected(cell)})} style=${style}
          data-layer=${cell.layer} data-head=${cell.head} title=${title}
          @mouseenter=${onEnter} @click=${onClick}>
        ${this.picked === null ? cell.label : formatShare(cell.share)}
      </div>`;
  }

  private renderCard() {
    const p = this.profile;
    if (p === null) return null;
    if (this.hover === null) {
      return html`<div class="card hint">Hover a head for its top labels; click it to show it
          in the attention view and search the corpus with it.</div>`;
    }
    const [l, h] = this.hover;
    const stats = topLabels(p, l, h, 5);
    const total = p.counts[l][h].reduce((a, b) => a + b, 0);
    const what = p.by === 'attended' ? `${p.field} of the max-attended token` :
                                       `${p.field} of the attending token`;
    return html`
      <div class="card">
        <div class="card-title">head ${l + 1}-${h + 1}: ${what}</div>
        <div class="hint">${total.toLocaleString()} tokens counted</div>
        <table>
          <tr class="hint"><td>label</td><td class="num">share</td><td class="num">count</td>
              <td class="num">lift</td></tr>
          ${stats.map(s => html`<tr class="top-label"><td>${s.label}</td>
              <td class="num">${formatShare(s.share)}</td>
              <td class="num">${s.count.toLocaleString()}</td>
              <td class="num">${formatLift(s.lift)}</td></tr>`)}
        </table>
      </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-head-grid-module': ExbertHeadGridModule;
  }
}
