/**
 * Probing curves as a LIT module: lines over layers of what the corpus
 * neighbours of E(l) (solid) and C(l) (dashed) say about a label.
 *
 * - "this token": the token chosen in the attention view; per layer, the
 *   share of each top label among its corpus matches (the exBERT paper's
 *   Figure 3 for any token), with the attention view's heads for C(l).
 * - "corpus": per layer, the kNN label agreement of a sample of corpus
 *   tokens, for every selected model on one chart (relative depth when the
 *   models differ in depth): where in depth each model encodes the label.
 * Both come from the `exbert_probe` interpreter.
 */

// tslint:disable:no-new-decorators
import {css, html, svg} from 'lit';
import {customElement} from 'lit/decorators.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {ModelInfoMap, Spec} from '../../client/lib/types';

import {CorpusAnswer, corpusSeries, groupColors, linear, linePath, Series, TokenAnswer, tokenSeries, xExtent} from '../lib/probe_chart';

import {viewModel} from './model_group';
import {exbertState} from './view_state';

export const PROBE_INTERPRETER = 'exbert_probe';
const FIELDS = ['pos', 'dep', 'ent', 'tag'];
const K = 50;
const SAMPLE = 500;
const W = 520;
const H = 240;
const PAD = {left: 40, right: 120, top: 14, bottom: 32};

const styles = css`
  :host { font-family: 'Roboto', sans-serif; font-size: 12px; }
  .module-container { display: flex; flex-direction: column; height: 100%; }
  .module-toolbar { display: flex; align-items: center; flex-wrap: wrap; gap: 8px;
                    padding: 4px 8px; border-bottom: 1px solid #dadce0; }
  .body { flex: 1; overflow: auto; padding: 6px; }
  .hint, .status { color: #5f6368; }
  .error { color: #c5221f; }
  .axis { stroke: #9aa0a6; stroke-width: 1; }
  .grid-line { stroke: #f1f3f4; }
  .tick { fill: #5f6368; font-size: 10px; }
  .legend { font-size: 11px; fill: #202124; }
  .curve { fill: none; stroke-width: 2; }
`;

/** `<exbert-probe-module>`. */
@customElement('exbert-probe-module')
export class ExbertProbeModule extends LitModule {
  static override title = 'exBERT Probing';
  static override numCols = 6;
  static override duplicateForModelComparison = false;
  static override infoMarkdown =
      'Probing curves: per layer, the labels of the corpus matches of the ' +
      "selected token's E(l) (solid) and C(l) (dashed), or, corpus-wide, how " +
      'well the nearest corpus tokens agree on a label, for every selected ' +
      'model on one chart.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-probe-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-probe-module>`;

  static override get styles() {
    return [sharedStyles, styles];
  }

  static override shouldDisplayModule(modelSpecs: ModelInfoMap, datasetSpec: Spec) {
    return Object.values(modelSpecs).some(info => info.interpreters.includes(PROBE_INTERPRETER));
  }

  @observable private mode: 'token'|'corpus' = 'token';
  @observable private field = 'pos';
  @observable.ref private tokenAnswer: TokenAnswer|null = null;
  @observable.ref private corpusAnswers: CorpusAnswer[] = [];
  @observable private error = '';
  @observable private loading = false;
  @observable private ms: number|null = null;

  constructor() {
    super();
    makeObservable(this);
  }

  /** The selected models that have a corpus, as the views ask them. */
  @computed
  get models(): Array<[string, string]> {
    const all = this.appState.metadata.models;
    return this.appState.currentModels
        .map(m => [m, viewModel(m, all)] as [string, string])
        .filter(([, source]) => all[source]?.interpreters.includes(PROBE_INTERPRETER));
  }

  override firstUpdated() {
    this.reactImmediately(
        () => [this.mode, this.field, this.models, exbertState.token, exbertState.heads,
               this.selectionService.primarySelectedInputData] as const,
        () => { this.load(); });
  }

  private async load() {
    const started = performance.now();
    const input = this.selectionService.primarySelectedInputData;
    const dataset = this.appState.currentDataset;
    this.error = '';
    if (this.models.length === 0) return;
    this.loading = true;
    try {
      if (this.mode === 'token') {
        const token = exbertState.token;
        if (input == null || token === null) {
          this.tokenAnswer = null;
          return;
        }
        const [, source] = this.models[0];
        const config = {mode: 'token', field: this.field, position: token,
                        heads: exbertState.heads, k: K};
        const results = await this.loadLatest('probe', this.apiService.getInterpretations(
            [input], source, dataset, PROBE_INTERPRETER, config, 'Probing layers'));
        if (results === null) return;
        this.tokenAnswer = (results as TokenAnswer[])[0] ?? null;
      } else {
        const config = {mode: 'corpus', field: this.field, sample: SAMPLE, k: 10};
        const inputs = input ? [input] : [];
        const results = await this.loadLatest('probe', Promise.all(this.models.map(
            ([, source]) => this.apiService.getInterpretations(
                inputs, source, dataset, PROBE_INTERPRETER, config,
                'Probing the corpus', /* skipPredict: no model outputs needed */ true))));
        if (results === null) return;
        this.corpusAnswers = (results as CorpusAnswer[][]).map((r, i) => (
            {...r[0], model: this.models[i][0]}));
      }
      this.ms = Math.round(performance.now() - started);
    } catch (e) {
      this.error = `Probing failed: ${e instanceof Error ? e.message : e}`;
    } finally {
      this.loading = false;
    }
  }

  override renderImpl() {
    if (this.models.length === 0) {
      return html`<div class="hint">No corpus is indexed for the selected model.</div>`;
    }
    const onMode = (e: Event) => {
      this.mode = (e.target as HTMLSelectElement).value as 'token'|'corpus';
    };
    const onField = (e: Event) => { this.field = (e.target as HTMLSelectElement).value; };
    const server = this.mode === 'token' && this.tokenAnswer?.seconds !== undefined ?
        ` (searches ${Math.round(this.tokenAnswer.seconds * 1000)} ms)` : '';
    const status = this.loading ? 'searching…' : this.ms !== null ? `${this.ms} ms${server}` : '';
    return html`
      <div class="module-container">
        <div class="module-toolbar">
          <label>curves <select class="mode-select" @change=${onMode}>
            <option value="token" ?selected=${this.mode === 'token'}>this token</option>
            <option value="corpus" ?selected=${this.mode === 'corpus'}>corpus (kNN agreement)</option>
          </select></label>
          <label>label <select class="field-select" @change=${onField}>
            ${FIELDS.map(f => html`<option value=${f} ?selected=${f === this.field}>${f}</option>`)}
          </select></label>
          <span class="status">${status}</span>
        </div>
        <div class="body">
          ${this.error ? html`<div class="error">${this.error}</div>` : this.renderBody()}
        </div>
      </div>`;
  }

  private renderBody() {
    if (this.mode === 'token') {
      const a = this.tokenAnswer;
      if (a === null) {
        return html`<div class="hint">Click a token in the attention view to see, layer by
            layer, the ${this.field} labels of its ${K} nearest corpus tokens.</div>`;
      }
      return html`
        <div class="hint">${this.field} of the ${a.k} corpus matches of
          <b>${a.token ?? ''}</b> (${this.models[0][0]}), per layer: solid E(l), dashed C(l)
          ${exbertState.heads.length ? `(heads ${exbertState.heads.join(',')})` : ''}</div>
        ${this.renderChart(tokenSeries(a, 4), 'layer', 'share of matches')}`;
    }
    if (this.corpusAnswers.length === 0) {
      return html`<div class="hint">${this.loading ? 'Searching the corpus…' : ''}</div>`;
    }
    const {series, relative} = corpusSeries(this.corpusAnswers, 'accuracy');
    const note = this.corpusAnswers.map(a => `${a.model}: ${a.sample} tokens, majority ` +
                                            `baseline ${(a.chance * 100).toFixed(0)}%`).join('; ');
    return html`
      <div class="hint">kNN (k=10, other sentences) ${this.field} accuracy per layer: solid
        E(l), dashed C(l). ${note}</div>
      ${this.renderChart(series, relative ? 'layer / L' : 'layer', 'accuracy')}`;
  }

  private renderChart(series: Series[], xLabel: string, yLabel: string) {
    const [x0, x1] = xExtent(series);
    const x = linear(x0, x1, PAD.left, W - PAD.right);
    const y = linear(0, 1, H - PAD.bottom, PAD.top);
    const colors = groupColors(series);
    const integer = xLabel === 'layer';
    const xTicks = integer ?
        Array.from({length: x1 - x0 + 1}, (_, i) => x0 + i)
            .filter(v => (x1 - x0) <= 12 || v % 5 === 0) :
        [0, 0.25, 0.5, 0.75, 1];
    const legend = [...colors.entries()];
    return html`<svg class="probe-chart" viewBox="0 0 ${W} ${H}"
        style="width: 100%; max-width: ${W}px">
      ${[0, 0.25, 0.5, 0.75, 1].map(v => svg`
        <line class="grid-line" x1=${PAD.left} x2=${W - PAD.right} y1=${y(v)} y2=${y(v)}></line>
        <text class="tick" x=${PAD.left - 4} y=${y(v) + 3} text-anchor="end">${v}</text>`)}
      ${xTicks.map(v => svg`<text class="tick" x=${x(v)} y=${H - PAD.bottom + 12}
          text-anchor="middle">${integer ? v : v.toFixed(2)}</text>`)}
      <line class="axis" x1=${PAD.left} x2=${W - PAD.right} y1=${H - PAD.bottom}
          y2=${H - PAD.bottom}></line>
      <text class="tick" x=${(PAD.left + W - PAD.right) / 2} y=${H - 4}
          text-anchor="middle">${xLabel}</text>
      <text class="tick" x=${PAD.left + 4} y=${PAD.top + 4}>${yLabel}</text>
      ${series.map(s => svg`<path class="curve" data-name=${s.name}
          d=${linePath(s.points, x, y)} stroke=${colors.get(s.group)}
          stroke-dasharray=${s.kind === 'context' ? '5,3' : 'none'}></path>`)}
      ${legend.map(([group, color], i) => svg`
        <line x1=${W - PAD.right + 8} x2=${W - PAD.right + 24} y1=${PAD.top + 8 + i * 16}
            y2=${PAD.top + 8 + i * 16} stroke=${color} stroke-width="2"></line>
        <text class="legend" x=${W - PAD.right + 28} y=${PAD.top + 12 + i * 16}>${group}</text>`)}
    </svg>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-probe-module': ExbertProbeModule;
  }
}
