/**
 * exBERT's attention view as a LIT module: the sentence's tokens in two
 * columns (left = attending, right = attended) joined by curves whose
 * opacity and width show attention, for one layer and a head or any set of
 * heads aggregated, with exBERT's cumulative threshold and per-head
 * matrices. This file is the shell: it loads one layer of the chosen
 * measure, turns it into a scene (lib/ maths) and wires the toolbar; the
 * drawing is `<exbert-attention-canvas>` (attention_canvas.ts).
 */

// tslint:disable:no-new-decorators
import {html} from 'lit';
import {customElement} from 'lit/decorators.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {AttentionHeads} from '../../client/lib/lit_types';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {IndexedInput, ModelInfoMap, Spec} from '../../client/lib/types';
import {findSpecKeys, makeModifiedInput} from '../../client/lib/utils';

import {aggregateHeads, Focus, isCausalAttention, renormaliseRows, Rows, zeroColumns} from '../lib/attention';
import {figureCaption} from '../lib/export_svg';
import {clickHead} from '../lib/head_matrices';
import {formatHeadSet, HeadSetError, parseHeadSet, toggleHead} from '../lib/heads';
import {chooseMeasure, hasHeads, Measure, MEASURE_LABELS} from '../lib/measures';
import {focusedEdges} from '../lib/threshold';
import {linkedToken, segmentBoundaryRow} from '../lib/segments';
import {maskedText, maskTokens} from '../lib/tokens';

import './attention_canvas';
import {ExbertAttentionCanvas} from './attention_canvas';
import {dataJson, download, exportStem, ExportState, figureSvg, svgToPng} from './attention_exports';
import {AttentionFields, attentionFields, measureSource, offeredMeasures} from './attention_fields';
import {drawHeadThumbnails, renderHeadChips, renderInfo} from './attention_info';
import {attentionStyles} from './attention_styles';
import {renderControls} from './attention_controls';
import {AttentionData, buildScene, decodeAttention} from './attention_data';
import {Scene} from './canvas_paint';
import {viewModel} from './model_group';
import {exbertState} from './view_state';
import {lensLayersOf, LogitLens, lensStyles, renderLens} from './lens_panel';

export {attentionFields} from './attention_fields';

/** Attention view: `<exbert-attention-module>`. */
@customElement('exbert-attention-module')
export class ExbertAttentionModule extends LitModule {
  static override title = 'exBERT Attention';
  static override numCols = 6;
  static override duplicateForModelComparison = true;
  static override infoMarkdown =
      'exBERT attention: curves join each token (left) to the tokens it ' +
      'attends to (right); per row only the strongest edges that add up to ' +
      'the threshold are drawn. Hover a token for its outgoing (left) or ' +
      'incoming (right) attention, click to freeze it and search the corpus, ' +
      'double-click to mask it and re-run. The small matrices beside the ' +
      'tokens show every head: click a head column to show it alone, ' +
      'shift-click to add it. Type heads as `4-[1,3,9]`.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-attention-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-attention-module>`;

  static override get styles() {
    return [sharedStyles, attentionStyles, lensStyles];
  }

  static override shouldDisplayModule(modelSpecs: ModelInfoMap, datasetSpec: Spec) {
    return Object.values(modelSpecs).some(
        info => findSpecKeys(info.spec.output, AttentionHeads).length > 0);
  }

  @observable.ref private data: AttentionData|null = null;
  @observable.ref private hover: Focus|null = null;
  @observable private headText = '';
  @observable private headError = '';
  @observable private maskError = '';
  @observable private loadError = '';
  @observable private viewHeight = 600;
  /** Time of the last load (request sent, answer decoded), for the benchmark. */
  lastLoad = {requestMs: 0, decodeMs: 0, tokens: 0};
  private thumbnailsKey: unknown = null;
  /** The logit lens beside the predictions (lens_panel.ts), off until switched on. */
  readonly lens = new LogitLens();
  private resizeObserver?: ResizeObserver;

  constructor() {
    super();
    makeObservable(this);
  }

  /** The LIT model asked for the attention: `_NAME_internals`, else NAME. */
  @computed get sourceModel(): string {
    return viewModel(this.model, this.appState.metadata.models);
  }

  @computed get fields(): AttentionFields|null {
    if (!this.model) return null;
    const spec = this.appState.getModelSpec(this.sourceModel);
    return attentionFields(spec.input, spec.output);
  }

  /** Layers 1..L this model has attention for, ascending. */
  @computed get layerNumbers(): number[] {
    return [...(this.fields?.layers.keys() ?? [])].sort((a, b) => a - b);
  }

  @computed get measures(): Measure[] {
    return offeredMeasures(this.model, this.appState.metadata.models, this.layerNumbers);
  }

  @computed get measure(): Measure {
    return chooseMeasure(exbertState.measure, this.measures);
  }

  /** The layer on screen: the URL's if this model has it, else the first. */
  @computed get layer(): number|null {
    const layers = this.layerNumbers;
    if (layers.length === 0) return null;
    const wanted = exbertState.layer;
    return wanted !== null && layers.includes(wanted) ? wanted : layers[0];
  }

  @computed get numHeads(): number {
    return this.data !== null && hasHeads(this.data.measure) ? this.data.attention.length : 0;
  }

  /** The chosen heads that exist in this model (1-based, [] = all). */
  @computed get heads(): number[] {
    const n = this.numHeads;
    const valid = exbertState.heads.filter(h => h <= n);
    return valid.length === n ? [] : valid;
  }

  @computed get causal(): boolean {
    return this.data !== null && isCausalAttention(this.data.attention);
  }

  @computed get visible(): boolean[] {
    if (this.data === null) return [];
    return this.data.special.map(s => !(exbertState.hideSpecials && s));
  }

  /** `[H, T, T]` after zeroing the specials' columns (if asked). */
  @computed get perHead(): ArrayLike<ArrayLike<number>>[] {
    if (this.data === null) return [];
    const special = this.data.special;
    return exbertState.zeroSpecials ? this.data.attention.map(m => zeroColumns(m, special)) :
                               this.data.attention;
  }

  /** `[T, T]`: the chosen heads' mean, renormalised over visible tokens. */
  @computed get matrix(): Rows {
    if (this.data === null || this.perHead.length === 0) return [];
    const aggregate = aggregateHeads(this.perHead, this.heads);
    return exbertState.hideSpecials ? renormaliseRows(aggregate, this.visible) : aggregate;
  }

  @computed get scene(): Scene|null {
    if (this.data === null) return null;
    return buildScene(this.data, this.matrix, exbertState.threshold, this.visible,
                      this.numHeads > 0 ? this.perHead : [], this.heads, this.causal,
                      this.fields?.maskToken ?? null);
  }

  /** The frozen token, if it exists in this sentence; frozen in another model's view (compare
   * mode), the token of this model over the same characters. */
  @computed get frozen(): Focus|null {
    if (this.data === null) return null;
    const index = linkedToken(this.model, exbertState.token, exbertState.linked,
                              this.data.spans ?? [], this.data.tokens.length);
    return index === null ? null : {index, side: exbertState.side};
  }

  @computed get pointed(): Focus|null {
    return this.hover ?? this.frozen;
  }

  override firstUpdated() {
    this.reactImmediately(
        () => [this.selectionService.primarySelectedInputData, this.sourceModel, this.layer,
               this.fields, this.measure] as const,
        ([input, source, layer, fields, measure]) => {
          this.load(input, source, layer, fields, measure);
        });
    this.reactImmediately(
        () => [this.selectionService.primarySelectedInputData, this.lens.enabled] as const,
        ([input]) => {
          this.lens.load(this.apiService, this.model, this.appState.currentDataset, input,
                         lensLayersOf(this.model, this.appState.metadata.models));
        });
    // Keep the head-set box in step with the state unless it holds an error.
    this.reactImmediately(() => [this.layer, this.heads] as const, ([layer, heads]) => {
      if (layer !== null && exbertState.layer !== layer) exbertState.update({layer});
      if (layer !== null) {
        this.headText = formatHeadSet({layer, heads});
        this.headError = '';
      }
    });
    // A new sentence (not a masked copy of the current one) drops the frozen token.
    let previousId = this.selectionService.primarySelectedId;
    this.react(() => this.selectionService.primarySelectedInputData, input => {
      if (input != null && previousId != null && input.id !== previousId &&
          input.meta.parentId !== previousId) {
        exbertState.update({token: null});
      }
      previousId = input?.id ?? previousId;
    });
    this.resizeObserver = new ResizeObserver(() => { this.fitHeight(); });
    this.resizeObserver.observe(this);
  }

  /**
   * The canvases take the height LIT gives the module, less the toolbar and
   * chips. Also run after each render: the chips appear only with the data,
   * after the first resize, and were pushed out of view below long inputs.
   */
  private fitHeight() {
    const area = this.shadowRoot?.querySelector('.module-results-area');
    const chips = this.shadowRoot?.querySelector('.head-strips');
    if (!area) return;
    // The area and the chips change size after the module does (LIT's frame
    // settles, the toolbar and chips wrap): watched too (observe is idempotent).
    this.resizeObserver?.observe(area);
    if (chips) this.resizeObserver?.observe(chips);
    const height = Math.max(240, area.clientHeight - (chips?.clientHeight ?? 0) - 44);
    if (height !== this.viewHeight) this.viewHeight = height;
  }

  override disconnectedCallback() {
    this.resizeObserver?.disconnect();
    super.disconnectedCallback();
  }

  private async load(
      input: IndexedInput|null, source: string, layer: number|null,
      fields: AttentionFields|null, measure: Measure) {
    if (input == null || layer === null || fields === null) {
      this.data = null;
      return;
    }
    const start = performance.now();
    const {model: measureModel, field} = measureSource(this.model, source, measure, layer, fields);
    const requested = [fields.tokens];
    if (measureModel === source) requested.push(field);
    if (fields.special !== null) requested.push(fields.special);
    if (fields.preds !== null) requested.push(fields.preds);
    for (const extra of [fields.segments, fields.charStart, fields.charEnd]) {
      if (extra) requested.push(extra);
    }
    // One layer: LIT returns only the requested fields and its cache answers the other layers.
    const dataset = this.appState.currentDataset;
    const message = `Loading ${MEASURE_LABELS[measure]} of layer ${layer}`;
    const promise = Promise.all([
      this.apiService.getPreds([input], source, dataset, [], requested, message),
      measureModel === source ? Promise.resolve(null) :
          this.apiService.getPreds([input], measureModel, dataset, [], [field], message),
    ]);
    let results;
    try {
      results = await this.loadLatest('attention', promise);
    } catch (e) {
      this.loadError = `Could not load the attention: ${
          e instanceof Error ? e.message.split('\n')[0] : e}`;
      this.data = null;
      return;
    }
    if (results === null) return;
    const received = performance.now();
    this.loadError = '';
    this.data = decodeAttention(input.id, layer, measure, fields, field, results[0][0],
                                results[1]?.[0] ?? null);
    exbertState.update({
      sentenceTokens: this.data.tokens,
      sentences: {...exbertState.sentences, [this.model]: {
        inputId: input.id, tokens: this.data.tokens, spans: this.data.spans ?? []}},
    });
    this.lastLoad = {requestMs: received - start, decodeMs: performance.now() - received,
                     tokens: this.data.tokens.length};
  }

  private setHeadText(text: string) {
    this.headText = text;
    try {
      const selection = parseHeadSet(
          text, Math.max(...this.layerNumbers), this.numHeads || undefined);
      if (!this.layerNumbers.includes(selection.layer)) {
        throw new HeadSetError(`this model has no attention at layer ${selection.layer}`);
      }
      this.headError = '';
      exbertState.update({layer: selection.layer, heads: selection.heads});
    } catch (e) {
      if (!(e instanceof HeadSetError)) throw e;
      this.headError = e.message;
    }
  }

  private onTokenClick(focus: Focus) {
    const frozen = this.frozen;
    if (frozen !== null && frozen.index === focus.index && frozen.side === focus.side) {
      exbertState.update({token: null, linked: null});
    } else {
      const span = this.data?.spans?.[focus.index] ?? null;
      exbertState.update({token: focus.index, side: focus.side,
                          linked: span === null ? null : {model: this.model, span}});
    }
  }

  /** Whether this model can re-run with a token masked. */
  @computed get canMask(): boolean {
    return this.fields?.maskToken != null && !this.causal;
  }

  /**
   * Replaces word-piece `index` with the mask token as a new LIT datapoint
   * (a real example: in the data table, the URL, every module) and selects it.
   */
  private async maskToken(index: number) {
    const fields = this.fields;
    const input = this.selectionService.primarySelectedInputData;
    if (!this.canMask || fields === null || input == null || this.data === null) return;
    const mask = fields.maskToken!;
    const {tokens, special} = this.data;
    if (special[index] || tokens[index] === mask) return;
    const overrides: {[key: string]: unknown} = {
      [fields.text]: maskedText(tokens, special, index, mask),
    };
    if (fields.acceptsTokens) overrides['tokens'] = maskTokens(tokens, index, mask);
    if (this.data.segments) {  // a sentence pair: each segment's text from its own pieces
      const inB = this.data.segments.map(v => v > 0.5);
      overrides[fields.text] =
          maskedText(tokens, special.map((s, i) => s || inB[i]), inB[index] ? -1 : index, mask);
      overrides['text_b'] =
          maskedText(tokens, special.map((s, i) => s || !inB[i]), inB[index] ? index : -1, mask);
    }
    const datum = makeModifiedInput(input, overrides, 'exbert-mask');
    try {
      const [added] = await this.appState.annotateNewData([datum]);
      this.appState.commitNewDatapoints([added]);
      exbertState.update({token: index, side: 'left'});
      this.selectionService.selectIds([added.id]);
      this.maskError = '';
    } catch (e) {
      this.maskError = `Could not add the masked sentence: ${e}`;
    }
  }

  /** What the exports describe: the state on screen and the curves shown. */
  exportState(): ExportState|null {
    const data = this.data;
    if (data === null || this.scene === null) return null;
    return {
      model: this.model, layer: data.layer, heads: this.heads, measure: MEASURE_LABELS[data.measure],
      threshold: exbertState.threshold, zeroSpecials: exbertState.zeroSpecials,
      hideSpecials: exbertState.hideSpecials, tokens: data.tokens, matrix: this.matrix,
      edges: focusedEdges(this.scene.outOf, this.pointed), pointed: this.pointed,
    };
  }

  private async exportAs(kind: 'svg'|'png'|'json') {
    const state = this.exportState();
    if (state === null || this.scene === null) return;
    const stem = exportStem(state);
    if (kind === 'json') {
      download(`${stem}.json`, new Blob([dataJson(state)], {type: 'application/json'}));
      return;
    }
    const svgText = figureSvg(this.scene, state);
    download(`${stem}.${kind}`, kind === 'svg' ? new Blob([svgText], {type: 'image/svg+xml'}) :
                                                 await svgToPng(svgText));
  }

  override renderImpl() {
    if (this.fields === null) return html`<div class="message">This model has no attention.</div>`;
    const input = this.selectionService.primarySelectedInputData;
    const data = this.data;
    // clang-format off
    return html`
      <div class="module-container">
        <div class="module-toolbar">${this.renderControls()}</div>
        <div class="module-results-area exbert-body">
          ${input == null ? html`<div class="message">Select an example to see its attention.</div>` : ''}
          ${this.loadError ? html`<div class="error">${this.loadError}</div>` : ''}
          ${input == null ? '' : data === null ? (this.loadError ? '' : html`<div class="message">Loading…</div>`) : html`
            <div class="graph-and-info">
              <exbert-attention-canvas .scene=${this.scene} .frozen=${this.frozen}
                  .viewHeight=${this.viewHeight} .onHover=${(f: Focus|null) => { this.hover = f; }}
                  .onTokenClick=${(f: Focus) => { this.onTokenClick(f); }}
                  .onTokenDoubleClick=${(i: number) => { this.maskToken(i); }}
                  .onHeadClick=${(h: number, shift: boolean) => {
                    exbertState.update({heads: clickHead(this.heads, h, this.numHeads, shift)});
                  }}
                  data-segment-divider=${data.segments ? String(segmentBoundaryRow(data.segments, this.scene?.rowTokens ?? [])) : ''}
                  data-frozen=${this.frozen?.index ?? ''}
                  data-layer=${data.layer} data-heads=${this.heads.join(',')}
                  data-measure=${data.measure} data-threshold=${exbertState.threshold}
                  data-caption=${figureCaption(this.exportState()!)}></exbert-attention-canvas>
              ${renderInfo({
                tokens: data.tokens, special: data.special, preds: data.preds,
                hasPreds: this.fields.preds != null, maskToken: this.fields.maskToken,
                canMask: this.canMask, causal: this.causal, pointed: this.pointed?.index ?? null,
                maskError: this.maskError, onMask: (i: number) => { this.maskToken(i); },
                extra: renderLens(this.lens, lensLayersOf(this.model, this.appState.metadata.models),
                                  input?.id ?? null, this.pointed?.index ?? null),
              })}
            </div>
            ${renderHeadChips(this.numHeads, this.heads, head => {
              exbertState.update({heads: toggleHead(this.heads, head, this.numHeads)});
            })}`}
        </div>
      </div>`;
    // clang-format on
  }

  private renderControls() {
    return renderControls({
      layerNumbers: this.layerNumbers, layer: this.layer, headText: this.headText,
      headError: this.headError, allHeads: this.heads.length === 0, measures: this.measures,
      measure: this.measure, threshold: exbertState.threshold, hideSpecials: exbertState.hideSpecials,
      zeroSpecials: exbertState.zeroSpecials, causal: this.causal, hasData: this.data !== null,
      setLayer: layer => { exbertState.update({layer}); },
      setHeadText: text => { this.setHeadText(text); },
      setAllHeads: () => { exbertState.update({heads: []}); },
      setMeasure: measure => { exbertState.update({measure}); },
      setThreshold: threshold => { exbertState.update({threshold}); },
      setHideSpecials: hide => { exbertState.update({hideSpecials: hide}); },
      setZeroSpecials: zero => { exbertState.update({zeroSpecials: zero}); },
      exportAs: kind => { this.exportAs(kind); },
    });
  }

  override updated() {
    super.updated();
    this.fitHeight();
    const data = this.data;
    // The first canvas too: LIT drops the module's DOM while it is minimised,
    // and the chips come back as blank canvases for the same data.
    const key = [data, exbertState.hideSpecials, this.perHead,
                 this.shadowRoot?.querySelector('canvas.head-thumb')];
    if (data === null || key.every((v, i) => v === (this.thumbnailsKey as unknown[] | null)?.[i])) return;
    this.thumbnailsKey = key;
    drawHeadThumbnails(this.shadowRoot, this.perHead, this.visible, exbertState.hideSpecials);
  }

  /** The canvas element (tests and the benchmark drive it). */
  get canvas(): ExbertAttentionCanvas|null {
    return this.shadowRoot?.querySelector('exbert-attention-canvas') ?? null;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-attention-module': ExbertAttentionModule;
  }
}
