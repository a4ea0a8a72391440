/**
 * The attention view's toolbar: layer, head set, measure, threshold, the two
 * ways of handling special tokens, and the export buttons. A render function
 * over the shell's state and setters, so the shell keeps one job.
 */

import {html} from 'lit';

import {Measure, MEASURE_LABELS} from '../lib/measures';

export interface ControlProps {
  layerNumbers: number[];
  layer: number|null;
  headText: string;
  headError: string;
  allHeads: boolean;
  measures: Measure[];
  measure: Measure;
  threshold: number;
  hideSpecials: boolean;
  zeroSpecials: boolean;
  causal: boolean;
  hasData: boolean;
  setLayer: (layer: number) => void;
  setHeadText: (text: string) => void;
  setAllHeads: () => void;
  setMeasure: (measure: Measure) => void;
  setThreshold: (threshold: number) => void;
  setHideSpecials: (hide: boolean) => void;
  setZeroSpecials: (zero: boolean) => void;
  exportAs: (kind: 'svg'|'png'|'json') => void;
}

export function renderControls(p: ControlProps) {
  const layer = p.layer;
  const number = (e: Event) => Number((e.target as HTMLInputElement).value);
  const checked = (e: Event) => (e.target as HTMLInputElement).checked;
  const hasData = p.hasData;
    // clang-format off
    return html`
      <label class="control">Layer
        <select class="layer-select" @change=${(e: Event) => { p.setLayer(number(e)); }}>
          ${p.layerNumbers.map(l => html`<option value=${l} ?selected=${l === layer}>${l}</option>`)}
        </select>
      </label>
      <label class="control">Layer-heads
        <input class="head-set ${p.headError ? 'invalid' : ''}" type="text"
            .value=${p.headText}
            @change=${(e: Event) => { p.setHeadText((e.target as HTMLInputElement).value); }}
            title="Paper notation: 4-[1,3,9] (layer 4, heads 1, 3, 9), 5-3, or 4 for all heads">
      </label>
      ${p.headError ? html`<span class="error head-error">${p.headError}</span>` : ''}
      <button class="hairline-button all-heads" ?disabled=${p.allHeads}
          @click=${() => { p.setAllHeads(); }}>All heads</button>
      <label class="control" title="What the curves show: attention weights, value-weighted attention (Kobayashi et al. 2020) or attention rollout (Abnar & Zuidema 2020); the server offers what the model's measures declare">Measure
        <select class="measure-select"
            @change=${(e: Event) => { p.setMeasure((e.target as HTMLSelectElement).value as Measure); }}>
          ${p.measures.map(m => html`<option value=${m} ?selected=${m === p.measure}>${MEASURE_LABELS[m]}</option>`)}
        </select>
      </label>
      <label class="control" title="Per token, draw only its strongest curves that add up to this share of its attention (exBERT's threshold)">Threshold
        <input class="threshold" type="range" min="5" max="100" step="5"
            .value=${String(Math.round(p.threshold * 100))}
            @input=${(e: Event) => { p.setThreshold(number(e) / 100); }}>
        <span class="threshold-value">${Math.round(p.threshold * 100)}%</span>
      </label>
      <label class="control">
        <input type="checkbox" class="hide-specials" .checked=${p.hideSpecials}
            @change=${(e: Event) => { p.setHideSpecials(checked(e)); }}>
        Hide special tokens
      </label>
      <label class="control" title="Set attention to [CLS], [SEP] and BOS to 0 and renormalise each row over the other tokens">
        <input type="checkbox" class="zero-specials" .checked=${p.zeroSpecials}
            @change=${(e: Event) => { p.setZeroSpecials(checked(e)); }}>
        Zero attention to specials
      </label>
      ${p.causal ? html`<span class="badge causal-badge">causal</span>` : ''}
      <span class="export-buttons">
        <button class="hairline-button export-svg" ?disabled=${!hasData} title="Download the figure (all rows, with a caption) as SVG"
            @click=${() => p.exportAs('svg')}>SVG</button>
        <button class="hairline-button export-png" ?disabled=${!hasData} title="Download the figure as PNG"
            @click=${() => p.exportAs('png')}>PNG</button>
        <button class="hairline-button export-json" ?disabled=${!hasData} title="Download the tokens, the curves drawn and the matrix as JSON"
            @click=${() => p.exportAs('json')}>JSON</button>
      </span>`;
    // clang-format on
}
