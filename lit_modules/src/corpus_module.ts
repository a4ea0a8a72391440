/**
 * exBERT's corpus view as a LIT module: the corpus tokens whose
 * representation is nearest to the token chosen in the attention view, in
 * their sentences, and histograms of their linguistic labels.
 *
 * Corpus text is rendered only through lit-html bindings, which escape it.
 */

// tslint:disable:no-new-decorators
import '../../client/elements/popup_container';

import {css, html, unsafeCSS} from 'lit';
import {customElement} from 'lit/decorators.js';
import {classMap} from 'lit/directives/class-map.js';
import {styleMap} from 'lit/directives/style-map.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {PopupContainer} from '../../client/elements/popup_container';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {IndexedInput, ModelInfoMap, Spec} from '../../client/lib/types';

import {MAX_ATT_COLOR, offsetColor, offsetKey} from '../lib/colors';
import {continuesWord, displayOffsets, histogramBars, histogramsAt, labelTooltip, summarisedPosition} from '../lib/corpus';
import {exportFileName, histogramsCsv, matchesCsv, resultJson} from '../lib/corpus_export';
import {Bin, LabelHistograms, Match, SearchResult} from '../lib/corpus_types';
import {formatHeadSet} from '../lib/heads';
import {linkedToken} from '../lib/segments';
import {displayToken} from '../lib/tokens';
import {DEFAULT_K, NotationError, parseOffsetList} from '../lib/notation';
import {SearchKind, searchLayer} from '../lib/url_state';

import {viewModel} from './model_group';
import {exbertState} from './view_state';

/** Name under which the server registers the corpus-search interpreter. */
export const INTERPRETER = 'exbert_corpus_search';

/** The label each histogram column shows (exBERT's own choice of one at a time). */
type LabelField = keyof LabelHistograms;
const LABEL_FIELDS: Array<[LabelField, string]> =
    [['pos', 'POS'], ['dep', 'DEP'], ['ent', 'entity']];

interface SearchRequest {
  input: IndexedInput;
  position: number;
  layer: number;
  kind: SearchKind;
  heads: number[];
  offsets: number[];
}

const styles = css`
  :host {
    font-family: 'Roboto', sans-serif;
    font-size: 13px;
  }
  .module-container {
    display: flex;
    flex-direction: column;
    height: 100%;
  }
  .module-toolbar {
    display: flex;
    align-items: center;
    flex-wrap: wrap;
    gap: 4px 8px;
    padding: 4px 8px;
    border-bottom: 1px solid #dadce0;
  }
  .module-toolbar > * {
    margin: 0;
  }
  .export {
    margin-left: auto;
    display: inline-flex;
    align-items: center;
    gap: 6px;
  }
  .export .icon-button {
    font-size: 18px;
  }
  popup-container.download-popup {
    --popup-right: 0;
    --popup-top: 22px;
  }
  .download-popup-controls {
    display: flex;
    flex-direction: column;
    gap: 4px;
    min-width: 180px;
  }
  .download-popup-controls button {
    margin: 0;
  }
  .corpus-body {
    flex: 1;
    overflow: auto;
    padding: 6px;
  }
  .control {
    display: inline-flex;
    align-items: center;
    gap: 4px;
  }
  .offsets {
    width: 80px;
  }
  .query {
    color: #5f6368;
  }
  .message, .hint {
    color: #5f6368;
    padding: 4px;
  }
  .error {
    color: #c5221f;
    padding: 4px;
  }
  .histograms {
    display: flex;
    flex-wrap: wrap;
    gap: 12px;
    margin-bottom: 8px;
  }
  .histogram-column {
    min-width: 130px;
    max-width: 160px;
  }
  .histogram-column[data-offset='max_att'] {
    max-width: none;
  }
  .histogram-pair {
    display: flex;
    gap: 12px;
  }
  .column-title {
    font-weight: 500;
    border-bottom: 3px solid;
    margin-bottom: 4px;
  }
  .histogram-title {
    color: #5f6368;
    font-size: 11px;
    margin-top: 4px;
  }
  .bar-row {
    display: flex;
    align-items: center;
    gap: 4px;
    height: 15px;
  }
  .bar-label {
    width: 58px;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .bar-track {
    width: 48px;
  }
  .bar {
    display: block;
    height: 10px;
  }
  .bar-count {
    color: #5f6368;
    font-size: 11px;
  }
  .matches-title {
    font-weight: 500;
    margin: 4px 0;
  }
  .matches {
    border-collapse: collapse;
    width: 100%;
    table-layout: fixed;
  }
  td.score {
    width: 44px;
  }
  /* Keyword in context: every hit at the same x, the left context clipped at
     its start and the right one at its end, one line per match. */
  .kwic {
    display: grid;
    grid-template-columns: minmax(0, 2fr) minmax(0, 3fr);
  }
  .kwic-left {
    display: flex;
    justify-content: flex-end;
    overflow: hidden;
    white-space: nowrap;
    -webkit-mask-image: linear-gradient(to right, transparent, black 32px);
    mask-image: linear-gradient(to right, transparent, black 32px);
  }
  .kwic-right {
    overflow: hidden;
    white-space: nowrap;
    text-overflow: ellipsis;
  }
  .match td {
    padding: 2px 4px;
    border-bottom: 1px solid #f1f3f4;
    vertical-align: top;
  }
  .score {
    color: #5f6368;
    font-family: 'Roboto Mono', monospace;
  }
  .match-meta {
    color: #5f6368;
    font-size: 11px;
  }
  .piece {
    margin-left: 0.3em;
    border-bottom: 2px solid transparent;
    flex: none;
  }
  .piece.continuation {
    margin-left: 0;
  }
  .piece.hit {
    background: #fde293;
    font-weight: 700;
  }
  .piece.max-att {
    text-decoration: underline dotted ${unsafeCSS(MAX_ATT_COLOR)};
  }
`;

/** Corpus view: `<exbert-corpus-module>`. */
@customElement('exbert-corpus-module')
export class ExbertCorpusModule extends LitModule {
  static override title = 'exBERT Corpus Search';
  static override numCols = 6;
  static override duplicateForModelComparison = true;
  static override infoMarkdown =
      'Searches the indexed corpus for the token frozen in the exBERT ' +
      'attention view, at its layer: by the token embedding, or by the ' +
      'context (the selected heads\' outputs). Shows the matches and ' +
      'histograms of their labels; colours match the neighbour columns.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-corpus-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-corpus-module>`;

  static override get styles() {
    return [sharedStyles, styles];
  }

  static override shouldDisplayModule(
      modelSpecs: ModelInfoMap, datasetSpec: Spec) {
    return Object.values(modelSpecs).some(
        info => info.interpreters.includes(INTERPRETER));
  }

  @observable.ref private result: SearchResult|null = null;
  @observable private error = '';
  @observable private searching = false;
  @observable private offsetText = '';
  @observable private labelField: LabelField = 'pos';

  constructor() {
    super();
    makeObservable(this);
  }

  /**
   * The LIT model the search runs with: `_NAME_internals`, whose cached
   * outputs (from the attention view) hold the query vectors, else NAME.
   */
  @computed
  get sourceModel(): string {
    return viewModel(this.model, this.appState.metadata.models);
  }

  @computed
  get available(): boolean {
    return this.model !== '' &&
        this.appState.metadata.models[this.sourceModel]?.interpreters.includes(
            INTERPRETER) === true;
  }

  /** This model's attention view's sentence (word-pieces, spans) for `input`, if loaded. */
  private sentenceFor(input: IndexedInput) {
    const sentence = exbertState.sentences[this.model];
    return sentence?.inputId === input.id ? sentence : null;
  }

  /** The word-pieces of the sentence searched in, to name the query token. */
  @computed
  get sentenceTokens(): string[] {
    const input = this.selectionService.primarySelectedInputData;
    return (input == null ? null : this.sentenceFor(input)?.tokens) ?? exbertState.sentenceTokens;
  }

  /**
   * What to search for, or null until a token is frozen. The frozen token of
   * this model: in compare mode, the one over the characters of the word
   * clicked in the other model's view (its position differs between
   * tokenisations), once this model's sentence is loaded.
   */
  @computed
  get request(): SearchRequest|null {
    const input = this.selectionService.primarySelectedInputData;
    const layer = searchLayer(exbertState);
    if (input == null || layer === null) return null;
    const sentence = this.sentenceFor(input);
    const position = linkedToken(this.model, exbertState.token, exbertState.linked,
                                 sentence?.spans ?? null, sentence?.tokens.length ?? Infinity);
    if (position === null) return null;
    return {
      input,
      position,
      layer,
      kind: exbertState.kind,
      heads: exbertState.heads,
      offsets: exbertState.offsets,
    };
  }

  override firstUpdated() {
    this.reactImmediately(() => [this.request, this.available] as const,
                          ([request, available]) => {
                            if (available) this.search(request);
                          });
    this.reactImmediately(() => exbertState.offsets, offsets => {
      this.offsetText = offsets.map(offsetKey).join(',');
    });
  }

  private async search(request: SearchRequest|null) {
    if (request === null) {
      this.result = null;
      this.error = '';
      return;
    }
    const config = {
      position: request.position,
      layer: request.layer,
      kind: request.kind,
      heads: request.heads,
      k: DEFAULT_K,
      offsets: request.offsets,
    };
    this.searching = true;
    try {
      const promise = this.apiService.getInterpretations(
          [request.input], this.sourceModel, this.appState.currentDataset,
          INTERPRETER, config, 'Searching the corpus');
      const results = await this.loadLatest('search', promise);
      if (results === null) return;
      this.result = (results as SearchResult[])[0] ?? null;
      this.error = '';
    } catch (e) {
      this.result = null;
      this.error = `Corpus search failed: ${e instanceof Error ? e.message : e}`;
    } finally {
      this.searching = false;
    }
  }

  override renderImpl() {
    if (!this.available) {
      return html`<div class="message">No corpus is indexed for this model.</div>`;
    }
    // clang-format off
    return html`
      <div class="module-container">
        <div class="module-toolbar">${this.renderControls()}</div>
        <div class="module-results-area corpus-body">
          ${this.renderBody()}
        </div>
      </div>`;
    // clang-format on
  }

  private renderControls() {
    const setKind = (kind: SearchKind) => {
      exbertState.update({kind});
    };
    const onOffsets = (e: Event) => {
      const text = (e.target as HTMLInputElement).value;
      try {
        const offsets = parseOffsetList(text);
        this.error = '';
        exbertState.update({offsets});
      } catch (e) {
        if (!(e instanceof NotationError)) throw e;
        this.error = e.message;  // the notation's own one-line message (tests/notation_cases.json)
      }
    };
    const kind = exbertState.kind;
    // clang-format off
    return html`
      <span class="control">Search by
        <label><input type="radio" name="kind" class="kind-embedding"
            .checked=${kind === 'embedding'} @change=${() => { setKind('embedding'); }}>
          embedding</label>
        <label><input type="radio" name="kind" class="kind-context"
            .checked=${kind === 'context'} @change=${() => { setKind('context'); }}>
          context</label>
      </span>
      ${kind === 'embedding' ? html`
        <label class="control" title="Search the input embeddings E(0) instead of the layer shown">
          <input type="checkbox" class="input-layer" .checked=${exbertState.inputLayer}
              @change=${(e: Event) => {
                exbertState.update({inputLayer: (e.target as HTMLInputElement).checked});
              }}>
          input embeddings (layer 0)</label>` : ''}
      <label class="control">Neighbour offsets
        <input type="text" class="offsets" .value=${this.offsetText}
            @change=${onOffsets} title="e.g. -2,-1,1,2">
      </label>
      <label class="control">Histograms
        <select class="label-field" @change=${(e: Event) => {
          this.labelField = (e.target as HTMLSelectElement).value as LabelField;
        }}>
          ${LABEL_FIELDS.map(([field, name]) => html`
            <option value=${field} ?selected=${field === this.labelField}>${name}</option>`)}
        </select>
      </label>
      ${this.renderQuery()}
      ${this.renderExport()}`;
    // clang-format on
  }

  private renderQuery() {
    const request = this.request;
    if (request === null) return '';
    // `4` alone is "layer 4, all heads" in the notation; spelled out here, where a reader
    // could take it for head 4.
    const what = request.kind !== 'context' ?
        `layer ${request.layer === 0 ? '0 (input embeddings)' : request.layer}` :
        request.heads.length === 0 ?
        `layer ${request.layer}, all heads` :
        `heads ${formatHeadSet({layer: request.layer, heads: request.heads})}`;
    const token = this.sentenceTokens[request.position];
    const name = token === undefined ? '' : `"${displayToken(token)}" `;
    return html`<span class="query">${name}(#${request.position}) · ${what}</span>`;
  }

  /**
   * Copy and download buttons, as LIT's own (elements/export_controls.ts):
   * the matches and the histograms as CSV, the whole result as JSON; the
   * same tables as `exbert-lit search --csv` (lib/corpus_export.ts).
   */
  private renderExport() {
    const result = this.result;
    const disabled = result === null || this.searching;
    const token = this.request === null ? '' :
        displayToken(this.sentenceTokens[this.request.position] ?? '');
    const download = (e: Event, what: string, extension: string, type: string,
                      content: (r: SearchResult) => string) => {
      if (result === null) return;
      const blob = new Blob([content(result)], {type});
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = exportFileName(result, token, what, extension);
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      URL.revokeObjectURL(a.href);
      const popup = (e.target as HTMLElement).closest('popup-container');
      if (popup instanceof PopupContainer) popup.expanded = false;
    };
    const copy = () => {
      if (result !== null) void navigator.clipboard.writeText(matchesCsv(result));
    };
    const iconClass = classMap({'icon-button': true, 'mdi-outlined': true, 'disabled': disabled});
    const count = result?.matches.length ?? 0;
    // clang-format off
    return html`
      <span class="export">
        <lit-tooltip content="Copy ${count} matches as CSV" tooltipPosition="above">
          <mwc-icon class="${iconClass} copy-matches" slot="tooltip-anchor"
              @click=${copy}>file_copy</mwc-icon>
        </lit-tooltip>
        ${disabled ? html`
          <mwc-icon class="${iconClass} download">file_download</mwc-icon>` : html`
        <popup-container class="download-popup">
          <lit-tooltip content="Download the matches and histograms"
              tooltipPosition="above" slot="toggle-anchor">
            <mwc-icon class="${iconClass} download" slot="tooltip-anchor">
              file_download</mwc-icon>
          </lit-tooltip>
          <div class="download-popup-controls">
            <button class="filled-button nowrap download-matches-csv"
                @click=${(e: Event) => {
                  download(e, 'matches', 'csv', 'text/csv', matchesCsv);
                }}>${count} matches (CSV)</button>
            <button class="filled-button nowrap download-histograms-csv"
                @click=${(e: Event) => {
                  download(e, 'histograms', 'csv', 'text/csv', histogramsCsv);
                }}>Histograms (CSV)</button>
            <button class="filled-button nowrap download-json"
                @click=${(e: Event) => {
                  download(e, 'result', 'json', 'application/json', resultJson);
                }}>Matches and histograms (JSON)</button>
          </div>
        </popup-container>`}
      </span>`;
    // clang-format on
  }

  private renderBody() {
    if (this.request === null) {
      return html`<div class="message">Click a token in the exBERT attention
        view to search the corpus for it.</div>`;
    }
    if (this.error) return html`<div class="error">${this.error}</div>`;
    const result = this.result;
    if (result === null) {
      return html`<div class="message">${this.searching ? 'Searching…' : ''}</div>`;
    }
    const next = result.query.centre === 'next';
    // clang-format off
    return html`
      ${next ? html`<div class="hint causal-note">Causal model: the histograms
        summarise the token <b>following</b> each match.</div>` : ''}
      <div class="histograms">
        ${displayOffsets(result.query.offsets).map(offset =>
            this.renderOffsetColumn(result, offset, next))}
        ${this.renderMaxAttColumn(result)}
      </div>
      <div class="matches-title">${result.matches.length} matches</div>
      <table class="matches" data-layer=${result.query.layer} data-kind=${result.query.kind}>
        ${result.matches.map(m => this.renderMatch(m, result))}
      </table>`;
    // clang-format on
  }

  private renderBars(bins: Bin[], colour: string, name: string) {
    // clang-format off
    return html`
      <div class="histogram" data-name=${name}>
        <div class="histogram-title">${name}</div>
        ${histogramBars(bins).map(bar => html`
          <div class="bar-row" title="${bar.label}: ${bar.count}">
            <span class="bar-label">${bar.label}</span>
            <span class="bar-track">
              <span class="bar" style=${styleMap({
                width: `${Math.round(bar.fraction * 100)}%`,
                background: colour,
              })}></span>
            </span>
            <span class="bar-count">${bar.count}</span>
          </div>`)}
      </div>`;
    // clang-format on
  }

  private get fieldName(): string {
    return LABEL_FIELDS.find(([field]) => field === this.labelField)![1];
  }

  private renderOffsetColumn(result: SearchResult, offset: number, next: boolean) {
    const hist = histogramsAt(result, offset);
    const colour = offsetColor(offset);
    const centreName = next ? 'following token' : 'matched token';
    const title = offset === 0 ? centreName :
        `${offsetKey(offset)} (${offset < 0 ? 'left' : 'right'} of the ${
                                      next ? 'following' : 'matched'} token)`;
    // clang-format off
    return html`
      <div class="histogram-column" data-offset=${offsetKey(offset)}>
        <div class="column-title" style=${styleMap({'border-color': colour})}>
          ${title}</div>
        ${hist === null ? html`<div class="hint">no data</div>` :
            this.renderBars(hist[this.labelField], colour, this.fieldName)}
      </div>`;
    // clang-format on
  }

  private renderMaxAttColumn(result: SearchResult) {
    const h = result.max_att;
    if (h.pos.length === 0 && h.offset.length === 0) return '';
    // clang-format off
    return html`
      <div class="histogram-column" data-offset="max_att">
        <div class="column-title" style=${styleMap({'border-color': MAX_ATT_COLOR})}>
          most-attended token</div>
        <div class="histogram-pair">
          ${this.renderBars(h[this.labelField], MAX_ATT_COLOR, this.fieldName)}
          ${this.renderBars(h.offset, MAX_ATT_COLOR, 'offset')}
        </div>
      </div>`;
    // clang-format on
  }

  /** One match: its sentence's word-pieces, coloured by offset column. */
  private renderMatch(match: Match, result: SearchResult) {
    const centre = summarisedPosition(
        match.position, match.tokens.length, result.query.centre);
    const shownOffsets = new Set(result.query.offsets);
    const pieceClass = (i: number) => {
      const offset = centre === null ? null : i - centre;
      return classMap({
        'piece': true,
        'hit': i === match.position,
        'centre': offset === 0,
        'neighbour': offset !== null && offset !== 0 && shownOffsets.has(offset),
        'max-att': match.max_att === i,
        'continuation': continuesWord(match.tokens, i),
      });
    };
    const pieceStyle = (i: number) => {
      const offset = centre === null ? null : i - centre;
      if (offset === null || (offset !== 0 && !shownOffsets.has(offset))) {
        return styleMap({});
      }
      return styleMap({'border-bottom-color': offsetColor(offset)});
    };
    const piece = (t: string, i: number) => html`<span
        class=${pieceClass(i)} style=${pieceStyle(i)}
        title=${labelTooltip(match.labels[i] ?? null)}>${displayToken(t)}</span>`;
    const split = match.position;
    // clang-format off
    return html`
      <tr class="match" data-sentence=${match.sentence_id} data-position=${match.position}
          title=${match.text}>
        <td class="score">${match.score.toFixed(3)}</td>
        <td class="sentence"><div class="kwic"><div class="kwic-left">${
            match.tokens.slice(0, split).map((t, i) => piece(t, i))}</div><div
            class="kwic-right">${
            match.tokens.slice(split).map((t, i) => piece(t, i + split))}</div></div>${
          match.meta ? html`<div class="match-meta">${Object.entries(match.meta).map(
              ([k, v]) => `${k}: ${v}`).join(' · ')}</div>` : ''}</td>
      </tr>`;
    // clang-format on
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-corpus-module': ExbertCorpusModule;
  }
}
