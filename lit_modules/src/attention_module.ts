/**
 * exBERT's attention view as a LIT module: the sentence's tokens in two
 * columns (left = attending, right = attended) joined by curves whose
 * opacity and width show attention, for one layer and a head or any set of
 * heads aggregated.
 */

// tslint:disable:no-new-decorators
import {css, html, svg} from 'lit';
import {customElement} from 'lit/decorators.js';
import {classMap} from 'lit/directives/class-map.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {AttentionHeads, TokenScores, Tokens, TokenTopKPreds} from '../../client/lib/lit_types';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {IndexedInput, ModelInfoMap, Spec} from '../../client/lib/types';
import {findSpecKeys, makeModifiedInput} from '../../client/lib/utils';

import {aggregateHeads, edgesToDraw, Focus, futureTokens, isCausalAttention, renormaliseRows} from '../lib/attention';
import {curveStyle, thumbnailPixels} from '../lib/colors';
import {columnHeight, ColumnLayout, edgePath, rowCentre, rowIndices} from '../lib/geometry';
import {formatHeadSet, HeadSetError, isHeadSelected, parseHeadSet, toggleHead} from '../lib/heads';
import {displayToken, maskedText, maskTokens} from '../lib/tokens';

import {viewModel} from './model_group';
import {PACKED_SUFFIX, unpackAttention} from './packed_attention';
import {exbertState} from './view_state';

/** [(token, probability)], best first. */
type TopK = Array<[string, number]>;

/** The fields of one prediction that this view requests. */
interface AttentionData {
  inputId: string;
  layer: number;
  tokens: string[];
  special: boolean[];
  /** `[heads, T, T]` of the shown layer. */
  attention: number[][][];
  /** Per position; [] when the model has no predictions. */
  preds: TopK[];
}

/** Names of the output fields this view reads, from the model's spec. */
interface AttentionFields {
  /** layer number (1..L) -> AttentionHeads field. */
  layers: Map<number, string>;
  /** layer number -> its packed copy, where the model has one (`_NAME_internals`). */
  packed: Map<number, string>;
  tokens: string;
  special: string|null;
  preds: string|null;
  maskToken: string|null;
  /** Input field holding the sentence (the Tokens field's parent). */
  text: string;
  /** Whether the model accepts word-pieces as input (`tokens`). */
  acceptsTokens: boolean;
}

const ROW_HEIGHT = 20;
const CHAR_WIDTH = 7.5;
const CURVE_SPAN = 170;
const MIN_WEIGHT = 0.005;
const THUMB_SIZE = 48;
const SPECIAL_PATTERN = /^(\[[A-Z]+\]|<\/?[a-z|_]+>|<\|[a-z_]+\|>)$/;

/** The field names for a model's spec; null if it has no attention. */
export function attentionFields(inputSpec: Spec, outputSpec: Spec):
    AttentionFields|null {
  const keys = findSpecKeys(outputSpec, AttentionHeads);
  if (keys.length === 0) return null;
  const layers = new Map<number, string>();
  for (const key of keys) {
    const match = /^layer_(\d+)\/attention$/.exec(key);
    if (match !== null) layers.set(Number(match[1]), key);
  }
  if (layers.size === 0) keys.forEach((key, i) => layers.set(i + 1, key));
  const packed = new Map<number, string>();
  for (const [layer, key] of layers) {
    if (outputSpec[key + PACKED_SUFFIX] !== undefined) {
      packed.set(layer, key + PACKED_SUFFIX);
    }
  }
  const first = outputSpec[keys[0]] as AttentionHeads;
  const tokens = first.align_in || 'tokens';
  const tokensSpec = outputSpec[tokens] as Tokens | undefined;
  const special = findSpecKeys(outputSpec, TokenScores)
                      .find(k => k === 'special_tokens') ?? null;
  const preds = findSpecKeys(outputSpec, TokenTopKPreds)
                    .find(k => (outputSpec[k] as TokenTopKPreds).align === tokens) ??
      null;
  return {
    layers,
    packed,
    tokens,
    special,
    preds,
    maskToken: tokensSpec?.mask_token || null,
    text: tokensSpec?.parent || 'text',
    acceptsTokens: tokens in inputSpec,
  };
}

const styles = css`
  .exbert-body {
    padding: 6px;
    overflow: auto;
  }
  .control {
    display: inline-flex;
    align-items: center;
    gap: 4px;
    margin-right: 12px;
  }
  .head-set {
    width: 110px;
  }
  .head-set.invalid {
    outline: 1px solid #c5221f;
  }
  .error {
    color: #c5221f;
    margin-right: 8px;
  }
  .badge {
    border-radius: 8px;
    padding: 0 6px;
    background: #e8eaed;
  }
  .message, .hint {
    color: #5f6368;
    padding: 8px;
  }
  .graph-and-info {
    display: flex;
    flex-wrap: wrap;
    gap: 16px;
    align-items: flex-start;
  }
  .attention-graph {
    flex: none;
  }
  .edge {
    fill: none;
    stroke: #1a73e8;
  }
  .token {
    cursor: pointer;
  }
  .token rect {
    fill: transparent;
  }
  .token text {
    font-family: 'Roboto', sans-serif;
    font-size: 13px;
    fill: #202124;
  }
  .token.special text {
    fill: #9aa0a6;
  }
  .token.future text {
    fill: #dadce0;
  }
  .token.masked text {
    fill: #c5221f;
    font-weight: 500;
  }
  .token:hover rect, .token.focused rect {
    fill: #e8f0fe;
  }
  .token.frozen rect {
    fill: #d2e3fc;
  }
  .token.frozen text {
    font-weight: 700;
  }
  .info {
    min-width: 200px;
    max-width: 320px;
  }
  .info-title {
    margin-bottom: 4px;
  }
  .position {
    color: #5f6368;
  }
  .predictions {
    border-collapse: collapse;
  }
  .predictions td {
    padding: 1px 4px;
  }
  .pred-bar {
    width: 100px;
  }
  .pred-bar div {
    height: 10px;
    background: #1a73e8;
  }
  .pred-prob {
    font-family: 'Roboto Mono', monospace;
    color: #5f6368;
  }
  .mask-button {
    margin-top: 6px;
  }
  .head-strips {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
    margin-top: 8px;
  }
  .head-chip {
    border: 2px solid transparent;
    border-radius: 4px;
    padding: 2px;
    cursor: pointer;
    opacity: 0.45;
    text-align: center;
  }
  .head-chip.selected {
    border-color: #1a73e8;
    opacity: 1;
  }
  .head-label {
    font-size: 11px;
  }
`;

/** Attention view: `<exbert-attention-module>`. */
@customElement('exbert-attention-module')
export class ExbertAttentionModule extends LitModule {
  static override title = 'exBERT Attention';
  static override numCols = 6;
  static override duplicateForModelComparison = true;
  static override infoMarkdown =
      'exBERT attention: curves join each token (left) to the tokens it ' +
      'attends to (right). Hover a token for its outgoing (left) or incoming ' +
      '(right) attention, click to freeze it and search the corpus for it, ' +
      'double-click to mask it and re-run. Type heads as `4-[1,3,9]`.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-attention-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-attention-module>`;

  static override get styles() {
    return [sharedStyles, styles];
  }

  static override shouldDisplayModule(
      modelSpecs: ModelInfoMap, datasetSpec: Spec) {
    return Object.values(modelSpecs).some(
        info => findSpecKeys(info.spec.output, AttentionHeads).length > 0);
  }

  @observable.ref private data: AttentionData|null = null;
  @observable private hover: Focus|null = null;
  @observable private headText = '';
  @observable private headError = '';
  @observable private maskError = '';
  @observable private loadError = '';

  constructor() {
    super();
    makeObservable(this);
  }

  /** The LIT model asked for the attention: `_NAME_internals`, else NAME. */
  @computed
  get sourceModel(): string {
    return viewModel(this.model, this.appState.metadata.models);
  }

  @computed
  get fields(): AttentionFields|null {
    if (!this.model) return null;
    const spec = this.appState.getModelSpec(this.sourceModel);
    return attentionFields(spec.input, spec.output);
  }

  /** Layers 1..L this model has attention for, ascending. */
  @computed
  get layerNumbers(): number[] {
    return [...(this.fields?.layers.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The layer on screen: the URL's if this model has it, else the first. */
  @computed
  get layer(): number|null {
    const layers = this.layerNumbers;
    if (layers.length === 0) return null;
    const wanted = exbertState.layer;
    return wanted !== null && layers.includes(wanted) ? wanted : layers[0];
  }

  @computed
  get numHeads(): number {
    return this.data?.attention.length ?? 0;
  }

  /** The chosen heads that exist in this model (1-based, [] = all). */
  @computed
  get heads(): number[] {
    const n = this.numHeads;
    const valid = exbertState.heads.filter(h => h <= n);
    return valid.length === n ? [] : valid;
  }

  @computed
  get causal(): boolean {
    return this.data !== null && isCausalAttention(this.data.attention);
  }

  @computed
  get visible(): boolean[] {
    if (this.data === null) return [];
    return this.data.special.map(s => !(exbertState.hideSpecials && s));
  }

  /** `[T, T]`: the chosen heads' mean, renormalised over visible tokens. */
  @computed
  get matrix(): number[][] {
    if (this.data === null || this.numHeads === 0) return [];
    const aggregate = aggregateHeads(this.data.attention, this.heads);
    return exbertState.hideSpecials ? renormaliseRows(aggregate, this.visible) :
                                      aggregate;
  }

  /** The frozen token, if it exists in this sentence. */
  @computed
  get frozen(): Focus|null {
    const index = exbertState.token;
    if (index === null || this.data === null || index >= this.data.tokens.length) {
      return null;
    }
    return {index, side: exbertState.side};
  }

  /** Hover wins over the frozen token. */
  @computed
  get pointed(): Focus|null {
    return this.hover ?? this.frozen;
  }

  override firstUpdated() {
    this.reactImmediately(
        () => [this.selectionService.primarySelectedInputData,
               this.sourceModel, this.layer, this.fields] as const,
        ([input, source, layer, fields]) => {
          this.load(input, source, layer, fields);
        });
    // Keep the head-set box in step with the state unless it holds an error.
    this.reactImmediately(
        () => [this.layer, this.heads] as const, ([layer, heads]) => {
          // The corpus view and the URL follow the layer actually shown.
          if (layer !== null && exbertState.layer !== layer) {
            exbertState.update({layer});
          }
          if (layer !== null) {
            this.headText = formatHeadSet({layer, heads});
            this.headError = '';
          }
        });
    // A new sentence (not a masked copy of the current one) drops the frozen
    // token; at start-up the URL's token is kept.
    let previousId = this.selectionService.primarySelectedId;
    this.react(
        () => this.selectionService.primarySelectedInputData, input => {
          if (input != null && previousId != null && input.id !== previousId &&
              input.meta.parentId !== previousId) {
            exbertState.update({token: null});
          }
          previousId = input?.id ?? previousId;
        });
  }

  private async load(
      input: IndexedInput|null, source: string, layer: number|null,
      fields: AttentionFields|null) {
    if (input == null || layer === null || fields === null) {
      this.data = null;
      return;
    }
    // The packed copy of the layer where there is one (a fraction of the JSON).
    const attentionKey = fields.packed.get(layer) ?? fields.layers.get(layer)!;
    const requested = [fields.tokens, attentionKey];
    if (fields.special !== null) requested.push(fields.special);
    if (fields.preds !== null) requested.push(fields.preds);
    // One layer of the model's attention: LIT returns only the requested
    // fields, and its cache answers the other layers without a model run.
    const promise = this.apiService.getPreds(
        [input], source, this.appState.currentDataset, [], requested,
        `Loading attention of layer ${layer}`);
    let results;
    try {
      results = await this.loadLatest('attention', promise);
    } catch (e) {
      // LIT's status bar shows the server's message; keep the view usable.
      this.loadError = `Could not load the attention: ${
          e instanceof Error ? e.message.split('\n')[0] : e}`;
      this.data = null;
      return;
    }
    if (results === null) return;
    this.loadError = '';
    const pred = results[0];
    const tokens = (pred[fields.tokens] ?? []) as string[];
    const special = fields.special !== null ?
        (pred[fields.special] as number[]).map(v => v > 0.5) :
        tokens.map(t => SPECIAL_PATTERN.test(t));
    exbertState.update({sentenceTokens: tokens});
    this.data = {
      inputId: input.id,
      layer,
      tokens,
      special,
      attention: fields.packed.has(layer) ?
          unpackAttention(pred[attentionKey] as string, tokens.length) :
          (pred[attentionKey] ?? []) as number[][][],
      preds: fields.preds !== null ? (pred[fields.preds] ?? []) as TopK[] : [],
    };
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

  private onTokenClick(index: number, side: 'left'|'right') {
    const frozen = this.frozen;
    if (frozen !== null && frozen.index === index && frozen.side === side) {
      exbertState.update({token: null});
    } else {
      exbertState.update({token: index, side});
    }
  }

  /** Whether this model can re-run with a token masked. */
  @computed
  get canMask(): boolean {
    return this.fields?.maskToken != null && !this.causal;
  }

  /**
   * Replaces word-piece `index` with the mask token as a new LIT datapoint
   * (so it is a real example: in the data table, the URL, every module) and
   * selects it; this view then shows its attention and predictions.
   */
  private async maskToken(index: number) {
    const fields = this.fields;
    const input = this.selectionService.primarySelectedInputData;
    if (!this.canMask || fields === null || input == null || this.data === null) {
      return;
    }
    const mask = fields.maskToken!;
    const {tokens, special} = this.data;
    if (special[index] || tokens[index] === mask) return;
    const overrides: {[key: string]: unknown} = {
      [fields.text]: maskedText(tokens, special, index, mask),
    };
    if (fields.acceptsTokens) overrides['tokens'] = maskTokens(tokens, index, mask);
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

  override renderImpl() {
    if (this.fields === null) {
      return html`<div class="message">This model has no attention.</div>`;
    }
    const input = this.selectionService.primarySelectedInputData;
    if (input == null) {
      return html`<div class="message">Select an example to see its attention.</div>`;
    }
    // clang-format off
    return html`
      <div class="module-container">
        <div class="module-toolbar">${this.renderControls()}</div>
        <div class="module-results-area exbert-body">
          ${this.loadError ? html`<div class="error">${this.loadError}</div>` : ''}
          ${this.data === null ? (this.loadError ? '' : html`<div class="message">Loading…</div>`) : html`
            <div class="graph-and-info">
              ${this.renderGraph(this.data)}
              ${this.renderInfo(this.data)}
            </div>
            ${this.renderHeadStrips()}`}
        </div>
      </div>`;
    // clang-format on
  }

  private renderControls() {
    const layer = this.layer;
    const onLayer = (e: Event) => {
      exbertState.update({layer: Number((e.target as HTMLSelectElement).value)});
    };
    const onHeads = (e: Event) => {
      this.setHeadText((e.target as HTMLInputElement).value);
    };
    const onSpecials = (e: Event) => {
      exbertState.update({hideSpecials: (e.target as HTMLInputElement).checked});
    };
    // clang-format off
    return html`
      <label class="control">Layer
        <select class="layer-select" @change=${onLayer}>
          ${this.layerNumbers.map(l => html`
            <option value=${l} ?selected=${l === layer}>${l}</option>`)}
        </select>
      </label>
      <label class="control">Layer-heads
        <input class="head-set ${this.headError ? 'invalid' : ''}" type="text"
            .value=${this.headText} @change=${onHeads}
            title="Paper notation: 4-[1,3,9] (layer 4, heads 1, 3, 9), 5-3, or 4 for all heads">
      </label>
      ${this.headError ? html`<span class="error head-error">${this.headError}</span>` : ''}
      <button class="hairline-button all-heads" ?disabled=${this.heads.length === 0}
          @click=${() => { exbertState.update({heads: []}); }}>All heads</button>
      <label class="control">
        <input type="checkbox" class="hide-specials"
            .checked=${exbertState.hideSpecials} @change=${onSpecials}>
        Hide special tokens
      </label>
      ${this.causal ? html`<span class="badge causal-badge">causal</span>` : ''}`;
    // clang-format on
  }

  private renderGraph(data: AttentionData) {
    const {tokens, special} = data;
    const visible = this.visible;
    const rows = rowIndices(visible);
    const shown = tokens.map((t, i) => (visible[i] ? displayToken(t) : ''));
    const textWidth =
        Math.max(40, ...shown.map(t => t.length * CHAR_WIDTH)) + 12;
    const layout: ColumnLayout = {
      top: 4,
      rowHeight: ROW_HEIGHT,
      leftX: textWidth + 8,
      rightX: textWidth + 8 + CURVE_SPAN,
    };
    const width = layout.rightX + textWidth + 8;
    const numRows = visible.filter(v => v).length;
    const height = columnHeight(numRows, layout);
    const focus = this.pointed;
    const future = this.causal && focus !== null ?
        futureTokens(tokens.length, focus.index) :
        tokens.map(() => false);
    const edges = edgesToDraw(this.matrix, focus, MIN_WEIGHT)
                      .filter(e => rows[e.from] >= 0 && rows[e.to] >= 0);
    const mask = this.fields?.maskToken;

    const tokenText = (i: number, side: 'left'|'right') => {
      const row = rows[i];
      if (row < 0) return svg``;
      const y = rowCentre(row, layout);
      const x = side === 'left' ? layout.leftX - 6 : layout.rightX + 6;
      const classes = classMap({
        'token': true,
        [side]: true,
        'special': special[i],
        'future': future[i],
        'masked': mask != null && tokens[i] === mask,
        'focused': focus !== null && focus.index === i && focus.side === side,
        'frozen': this.frozen !== null && this.frozen.index === i &&
            this.frozen.side === side,
      });
      const rectX = side === 'left' ? 0 : layout.rightX;
      // clang-format off
      return svg`
        <g class=${classes} data-index=${i} data-side=${side}
            @mouseenter=${() => { this.hover = {index: i, side}; }}
            @mouseleave=${() => { this.hover = null; }}
            @click=${() => { this.onTokenClick(i, side); }}
            @dblclick=${() => { this.maskToken(i); }}>
          <title>#${i} ${tokens[i]}${special[i] ? ' (special)' : ''}</title>
          <rect x=${rectX} y=${y - ROW_HEIGHT / 2} width=${textWidth + 8}
              height=${ROW_HEIGHT}></rect>
          <text x=${x} y=${y} text-anchor=${side === 'left' ? 'end' : 'start'}
              dominant-baseline="middle">${shown[i]}</text>
        </g>`;
      // clang-format on
    };

    // clang-format off
    return html`
      <svg class="attention-graph" width=${width} height=${height}
          data-layer=${data.layer} data-heads=${this.heads.join(',')}>
        <g class="edges">
          ${edges.map(e => {
            const style = curveStyle(e.weight);
            return svg`<path class="edge" d=${edgePath(rows[e.from], rows[e.to], layout)}
                data-from=${e.from} data-to=${e.to} data-weight=${e.weight.toFixed(6)}
                stroke-opacity=${style.opacity} stroke-width=${style.width}></path>`;
          })}
        </g>
        <g class="left-column">${tokens.map((_, i) => tokenText(i, 'left'))}</g>
        <g class="right-column">${tokens.map((_, i) => tokenText(i, 'right'))}</g>
      </svg>`;
    // clang-format on
  }

  /** Predictions and actions for the hovered, frozen or masked token. */
  private renderInfo(data: AttentionData) {
    const mask = this.fields?.maskToken;
    const firstMask = mask != null ? data.tokens.indexOf(mask) : -1;
    const index = this.pointed?.index ?? (firstMask >= 0 ? firstMask : null);
    if (index === null) {
      return html`<div class="info">
        <div class="hint">Hover a token for its predictions; click to freeze it
          and search the corpus${this.canMask ? '; double-click to mask it' : ''}.</div>
        ${this.maskError ? html`<div class="error">${this.maskError}</div>` : ''}
      </div>`;
    }
    const token = data.tokens[index];
    const preds = data.preds[index] ?? [];
    const title = this.causal ? html`Next token after <b>${displayToken(token)}</b>` :
                                html`Predictions at <b>${displayToken(token)}</b>`;
    const canMaskThis = this.canMask && !data.special[index] && token !== mask;
    // clang-format off
    return html`
      <div class="info">
        <div class="info-title">${title} <span class="position">(#${index})</span></div>
        ${this.fields?.preds == null ?
          html`<div class="hint">This model has no predictions.</div>` : html`
          <table class="predictions" data-index=${index}>
            ${preds.map(([word, p]) => html`
              <tr><td class="pred-token">${displayToken(word)}</td>
                  <td class="pred-bar"><div style="width:${Math.round(p * 100)}%"></div></td>
                  <td class="pred-prob">${p.toFixed(3)}</td></tr>`)}
          </table>`}
        ${canMaskThis ? html`
          <button class="hairline-button mask-button"
              @click=${() => { this.maskToken(index); }}>
            Mask "${displayToken(token)}" and re-run</button>` : ''}
        ${this.maskError ? html`<div class="error">${this.maskError}</div>` : ''}
      </div>`;
    // clang-format on
  }

  /**
   * One thumbnail per head (its attention matrix as a heat map, drawn on a
   * canvas in `updated`); click toggles the head in the aggregate.
   */
  private renderHeadStrips() {
    const n = this.numHeads;
    // clang-format off
    return html`
      <div class="head-strips">
        ${Array.from({length: n}, (_, h) => {
          const head = h + 1;
          const selected = isHeadSelected(this.heads, head);
          return html`
            <div class="head-chip ${selected ? 'selected' : ''}" data-head=${head}
                title="Head ${head}: click to toggle"
                @click=${() => {
                  exbertState.update({heads: toggleHead(this.heads, head, n)});
                }}>
              <canvas class="head-thumb" data-head=${head} width=${THUMB_SIZE}
                  height=${THUMB_SIZE}></canvas>
              <div class="head-label">${head}</div>
            </div>`;
        })}
      </div>`;
    // clang-format on
  }

  /** Draws the head thumbnails (imperative: one ImageData per head). */
  private drawHeadThumbnails() {
    const data = this.data;
    if (data === null) return;
    const visible = this.visible;
    const keep = visible.map((v, i) => (v ? i : -1)).filter(i => i >= 0);
    const canvases =
        this.shadowRoot?.querySelectorAll<HTMLCanvasElement>('canvas.head-thumb') ?? [];
    for (const canvas of Array.from(canvases)) {
      const h = Number(canvas.dataset['head']) - 1;
      const raw = data.attention[h];
      const context = canvas.getContext('2d');
      if (raw === undefined || context === null) continue;
      const m = exbertState.hideSpecials ? renormaliseRows(raw, visible) : raw;
      const image = context.createImageData(THUMB_SIZE, THUMB_SIZE);
      image.data.set(thumbnailPixels(m, keep, THUMB_SIZE));
      context.putImageData(image, 0, 0);
    }
  }

  override updated() {
    super.updated();
    this.drawHeadThumbnails();
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-attention-module': ExbertAttentionModule;
  }
}
