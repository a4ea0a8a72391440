/**
 * Attention through generation: `<exbert-generation-module>` generates N
 * tokens after the selected example's text with `_NAME_generate` (greedy, or
 * sampling with a temperature and seed; docs/FIELDS.md "Generation") and
 * steps through them. At step k the columns show the prompt and the tokens
 * generated up to k (generated ones in green), the curves are the attention
 * of token P+k at the chosen layer and heads, and the side panel shows the
 * candidates it was chosen from with its probability. A click on a token
 * adds prompt + generation as a LIT datapoint (text and word-pieces, so
 * `_NAME_internals` runs the same sequence) and freezes that token, so the
 * corpus view searches for it as for any token.
 */

// tslint:disable:no-new-decorators
import {html} from 'lit';
import {customElement} from 'lit/decorators.js';
import {computed, makeObservable, observable} from 'mobx';

import {LitModule} from '../../client/core/lit_module';
import {styles as sharedStyles} from '../../client/lib/shared_styles.css';
import {IndexedInput, ModelInfoMap, Preds} from '../../client/lib/types';
import {AttentionHeads} from '../../client/lib/lit_types';
import {findSpecKeys, makeModifiedInput} from '../../client/lib/utils';

import {aggregateHeads, Focus} from '../lib/attention';
import {GenerateSettings, generatedMask, generateExample, leadingBlock, numSteps, settingsError, stepForKey, StepView, stepView} from '../lib/generation';
import {DEFAULT_THRESHOLD} from '../lib/threshold';

import './attention_canvas';
import {buildScene} from './attention_data';
import {attentionStyles} from './attention_styles';
import {Scene} from './canvas_paint';
import {generationStyles, renderGenerationControls, renderStepPanel} from './generation_panel';
import {unpackAttention} from './packed_attention';
import {exbertState} from './view_state';

/** `_NAME_generate`, the group member that generates (causal LMs with a head). */
export function generateModelName(model: string): string {
  return `_${model}_generate`;
}

/** Layers 1..L whose packed attention `_NAME_generate` declares, ascending. */
export function generateLayers(model: string, models: ModelInfoMap): number[] {
  const info = models[generateModelName(model)];
  if (info === undefined) return [];
  return Object.keys(info.spec.output)
      .map(k => /^layer_(\d+)\/attention_packed$/.exec(k))
      .flatMap(m => (m === null ? [] : [Number(m[1])]))
      .sort((a, b) => a - b);
}

/** One generation as received: the final sequence and its per-layer attention. */
interface Generation {
  inputId: string;
  prompt: string;
  tokens: string[];
  special: boolean[];
  start: number;
  preds: Array<Array<[string, number]>>;
  probs: number[];
  /** layer -> `[H, T, T]`. */
  attention: Map<number, Float32Array[][]>;
  generatedText: string;
  stopReason: string;
  usedSeed: number;
}

/** Generation view: `<exbert-generation-module>`. */
@customElement('exbert-generation-module')
export class ExbertGenerationModule extends LitModule {
  static override title = 'exBERT Generation';
  static override numCols = 6;
  static override duplicateForModelComparison = true;
  static override infoMarkdown =
      'Generate tokens after the selected text (causal models) and step ' +
      'through them with the slider or the arrow keys: the curves are the ' +
      'attention of each generated token (green), the panel shows what it ' +
      'was chosen from. Click a token to search the corpus for it.';
  static override template =
      (model: string, selectionServiceIndex: number, shouldReact: number) => html`
      <exbert-generation-module model=${model} .shouldReact=${shouldReact}
          selectionServiceIndex=${selectionServiceIndex}>
      </exbert-generation-module>`;

  static override get styles() {
    return [sharedStyles, attentionStyles, generationStyles];
  }

  /** LIT passes only the selected models here (not `_NAME_generate`): any with attention. */
  static override shouldDisplayModule(modelSpecs: ModelInfoMap) {
    return Object.values(modelSpecs).some(
        info => findSpecKeys(info.spec.output, AttentionHeads).length > 0);
  }

  @observable.ref settings: GenerateSettings = {maxNewTokens: 20, temperature: 0, seed: null};
  @observable.ref generation: Generation|null = null;
  @observable step = 0;
  @observable busy = false;
  @observable error = '';

  constructor() {
    super();
    makeObservable(this);
  }

  @computed get layers(): number[] {
    return generateLayers(this.model, this.appState.metadata.models);
  }

  /** The shared layer (exbertState) if this model has it, else the first. */
  @computed get layer(): number|null {
    const wanted = exbertState.layer;
    if (this.layers.length === 0) return null;
    return wanted !== null && this.layers.includes(wanted) ? wanted : this.layers[0];
  }

  @computed get numSteps(): number {
    const g = this.generation;
    return g === null ? 0 : numSteps(g.tokens.length, g.start);
  }

  @computed get stepView(): StepView|null {
    const g = this.generation;
    if (g === null || this.numSteps === 0) return null;
    return stepView(g.tokens, g.start, g.preds, g.probs, Math.min(this.step, this.numSteps - 1));
  }

  /** The chosen heads that exist here (1-based, [] = all). */
  @computed get heads(): number[] {
    const att = this.layer === null ? undefined : this.generation?.attention.get(this.layer);
    const n = att?.length ?? 0;
    const valid = exbertState.heads.filter(h => h <= n);
    return valid.length === n ? [] : valid;
  }

  /** Tokens 0..P+k with their attention, the step's token frozen so its curves show. */
  @computed get scene(): Scene|null {
    const g = this.generation;
    const v = this.stepView;
    const att = this.layer === null ? undefined : g?.attention.get(this.layer);
    if (g === null || v === null || att === undefined) return null;
    const shown = v.shown;
    const perHead = leadingBlock(att, shown);
    const data = {
      inputId: g.inputId, layer: this.layer!, measure: 'weights' as const,
      tokens: g.tokens.slice(0, shown), special: g.special.slice(0, shown),
      attention: perHead, preds: [],
    };
    const scene = buildScene(data, aggregateHeads(perHead, this.heads), DEFAULT_THRESHOLD,
                             data.special.map(() => true), perHead, this.heads, true, null);
    return {...scene, generated: generatedMask(shown, g.start)};
  }

  @computed get frozen(): Focus|null {
    const v = this.stepView;
    return v === null ? null : {index: v.position, side: 'left'};
  }

  async generate() {
    const input = this.selectionService.primarySelectedInputData;
    const layers = this.layers;
    if (input == null || layers.length === 0 || settingsError(this.settings) !== '') return;
    const prompt = String(input.data['text'] ?? '');
    const fields = ['tokens', 'special_tokens', 'generation_start', 'pred_tokens', 'token_probs',
                    'generated_text', 'stop_reason', 'used_seed',
                    ...layers.map(l => `layer_${l}/attention_packed`)];
    const example = generateExample('text', prompt, this.settings) as unknown as IndexedInput;
    this.busy = true;
    try {
      const promise = this.apiService.getPreds(
          [example], generateModelName(this.model), this.appState.currentDataset, [], fields,
          `Generating ${this.settings.maxNewTokens} tokens`);
      const results = await this.loadLatest('generate', promise);
      if (results === null) return;
      this.generation = decodeGeneration(input.id, prompt, layers, results[0]);
      this.step = 0;
      this.error = '';
    } catch (e) {
      this.error = `Could not generate: ${e instanceof Error ? e.message.split('\n')[0] : e}`;
    } finally {
      this.busy = false;
    }
  }

  /** Adds prompt + generation as a datapoint and freezes the token there (corpus search). */
  private async searchToken(focus: Focus) {
    const g = this.generation;
    const input = this.selectionService.primarySelectedInputData;
    if (g === null || input == null) return;
    const source = this.appState.currentInputData.find(d => d.id === g.inputId) ?? input;
    const datum = makeModifiedInput(
        source, {'text': g.prompt + g.generatedText, 'tokens': g.tokens}, 'exbert-generate');
    try {
      const [added] = await this.appState.annotateNewData([datum]);
      this.appState.commitNewDatapoints([added]);
      this.selectionService.selectIds([added.id]);
      // The layer too: the corpus view searches C(layer) even when no attention view set it.
      exbertState.update({token: focus.index, side: focus.side, layer: this.layer,
                          sentenceTokens: g.tokens, linked: null});
      this.error = '';
    } catch (e) {
      this.error = `Could not add the generated sequence: ${e}`;
    }
  }

  private onKey(e: KeyboardEvent) {
    if ((e.target as HTMLElement).tagName === 'INPUT') return;
    const next = stepForKey(e.key, this.step, this.numSteps);
    if (next === null) return;
    e.preventDefault();
    this.step = next;
  }

  override renderImpl() {
    if (this.layers.length === 0) {
      return html`<div class="message">This model cannot generate (a causal LM with its head can).</div>`;
    }
    const input = this.selectionService.primarySelectedInputData;
    const g = this.generation;
    const v = this.stepView;
    // clang-format off
    return html`
      <div class="module-container">
        <div class="module-toolbar">${renderGenerationControls({
          settings: this.settings, settingsError: settingsError(this.settings),
          busy: this.busy || input == null, layers: this.layers, layer: this.layer,
          step: Math.min(this.step, Math.max(0, this.numSteps - 1)), numSteps: this.numSteps,
          setSettings: changes => { this.settings = {...this.settings, ...changes}; },
          generate: () => { this.generate(); },
          setLayer: layer => { exbertState.update({layer}); },
          setStep: step => { this.step = step; },
        })}</div>
        <div class="module-results-area exbert-body" tabindex="0"
            @keydown=${(e: KeyboardEvent) => { this.onKey(e); }}>
          ${this.error ? html`<div class="error gen-error">${this.error}</div>` : ''}
          ${g === null || v === null ? html`<div class="message">${input == null ?
              'Select an example, then generate.' :
              'Generate tokens after the selected text to step through their attention.'}</div>` : html`
            <div class="graph-and-info">
              <exbert-attention-canvas .scene=${this.scene} .frozen=${this.frozen} .viewHeight=${560}
                  .onTokenClick=${(f: Focus) => { this.searchToken(f); }}
                  data-layer=${this.layer} data-heads=${this.heads.join(',')}
                  data-step=${this.step} data-position=${v.position}></exbert-attention-canvas>
              ${renderStepPanel({view: v, step: this.step, numSteps: this.numSteps,
                                 stopReason: g.stopReason, usedSeed: g.usedSeed,
                                 generatedText: g.generatedText})}
            </div>`}
        </div>
      </div>`;
    // clang-format on
  }
}

/** The generation from `_NAME_generate`'s prediction. */
function decodeGeneration(inputId: string, prompt: string, layers: number[],
                          pred: Preds): Generation {
  const tokens = pred['tokens'] as string[];
  const attention = new Map<number, Float32Array[][]>();
  for (const l of layers) {
    attention.set(l, unpackAttention(pred[`layer_${l}/attention_packed`] as string, tokens.length));
  }
  return {
    inputId, prompt, tokens,
    special: (pred['special_tokens'] as number[]).map(v => v > 0.5),
    start: Number(pred['generation_start']),
    preds: pred['pred_tokens'] as Array<Array<[string, number]>>,
    probs: pred['token_probs'] as number[],
    attention,
    generatedText: String(pred['generated_text'] ?? ''),
    stopReason: String(pred['stop_reason'] ?? ''),
    usedSeed: Number(pred['used_seed'] ?? -1),
  };
}

declare global {
  interface HTMLElementTagNameMap {
    'exbert-generation-module': ExbertGenerationModule;
  }
}
