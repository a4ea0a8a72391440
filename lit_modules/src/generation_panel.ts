/**
 * The generation view's toolbar (N, temperature, seed, Generate, layer and
 * the step slider) and its side panel (the step's token, its probability and
 * the candidates it was chosen from), as render functions over the module's
 * state, so generation_module.ts keeps to loading and stepping.
 */

import {css, html} from 'lit';

import {GenerateSettings, StepView} from '../lib/generation';
import {displayToken} from '../lib/tokens';

export interface GenerationControls {
  settings: GenerateSettings;
  settingsError: string;
  busy: boolean;
  layers: number[];
  layer: number|null;
  step: number;
  numSteps: number;
  setSettings: (changes: Partial<GenerateSettings>) => void;
  generate: () => void;
  setLayer: (layer: number) => void;
  setStep: (step: number) => void;
}

export function renderGenerationControls(p: GenerationControls) {
  const value = (e: Event) => (e.target as HTMLInputElement).value;
  // clang-format off
  return html`
    <label class="control">New tokens
      <input class="gen-n" type="number" min="1" max="256" .value=${String(p.settings.maxNewTokens)}
          @change=${(e: Event) => { p.setSettings({maxNewTokens: Number(value(e))}); }}>
    </label>
    <label class="control" title="0 = greedy; above 0 samples from softmax(logits / temperature)">Temperature
      <input class="gen-temperature" type="number" min="0" max="10" step="0.1"
          .value=${String(p.settings.temperature)}
          @change=${(e: Event) => { p.setSettings({temperature: Number(value(e))}); }}>
    </label>
    <label class="control" title="Sampling only; empty = drawn by the server and reported">Seed
      <input class="gen-seed" type="text" .value=${p.settings.seed === null ? '' : String(p.settings.seed)}
          @change=${(e: Event) => {
            const text = value(e).trim();
            p.setSettings({seed: text === '' ? null : Number(text)});
          }}>
    </label>
    <button class="hairline-button gen-run" ?disabled=${p.busy || p.settingsError !== ''}
        @click=${() => { p.generate(); }}>Generate</button>
    ${p.settingsError ? html`<span class="error gen-settings-error">${p.settingsError}</span>` : ''}
    <label class="control">Layer
      <select class="gen-layer" @change=${(e: Event) => { p.setLayer(Number(value(e))); }}>
        ${p.layers.map(l => html`<option value=${l} ?selected=${l === p.layer}>${l}</option>`)}
      </select>
    </label>
    ${p.numSteps === 0 ? '' : html`
      <label class="control" title="Step through the generated tokens (or use the arrow keys)">Step
        <input class="gen-step" type="range" min="0" max=${p.numSteps - 1} .value=${String(p.step)}
            @input=${(e: Event) => { p.setStep(Number(value(e))); }}>
        <span class="gen-step-value">${p.step + 1} / ${p.numSteps}</span>
      </label>`}`;
  // clang-format on
}

export interface StepPanel {
  view: StepView;
  step: number;
  numSteps: number;
  stopReason: string;
  usedSeed: number;
  generatedText: string;
}

/** The step's token, its probability, and the candidates it was chosen from. */
export function renderStepPanel(p: StepPanel) {
  const v = p.view;
  // clang-format off
  return html`
    <div class="info gen-info">
      <div class="info-title">Step ${p.step + 1} of ${p.numSteps}: <b class="gen-token">${displayToken(v.token)}</b>
        <span class="position">(#${v.position})</span></div>
      <div class="gen-chosen">p = <span class="gen-prob">${v.prob.toFixed(3)}</span>${
          v.rank === null ? ' (not in the top candidates)' : v.rank === 1 ? ' (top-1)' : ` (rank ${v.rank})`}</div>
      <table class="predictions gen-candidates" data-position=${v.position}>
        ${v.candidates.map(([word, prob]) => html`
          <tr class=${word === v.token ? 'chosen' : ''}><td class="pred-token">${displayToken(word)}</td>
              <td class="pred-bar"><div style="width:${Math.round(prob * 100)}%"></div></td>
              <td class="pred-prob">${prob.toFixed(3)}</td></tr>`)}
      </table>
      <div class="hint">Generated: <span class="gen-text">${p.generatedText}</span><br>
        Stopped: ${p.stopReason === 'eos' ? 'end of sequence' : 'token limit'}${
            p.usedSeed >= 0 ? html`; seed <span class="gen-used-seed">${p.usedSeed}</span>` : ''}.<br>
        Arrow keys step; click a token to search the corpus for it.</div>
    </div>`;
  // clang-format on
}

export const generationStyles = css`
  .gen-n, .gen-temperature { width: 56px; }
  .gen-seed { width: 90px; }
  .gen-step { width: 240px; }
  .gen-candidates tr.chosen td { font-weight: bold; color: #188038; }
  .gen-chosen { margin-bottom: 4px; }
  .gen-text { font-family: 'Roboto Mono', monospace; white-space: pre-wrap; }
  .module-results-area:focus { outline: none; }
`;
