/**
 * The attention view's logit-lens table: beside the top-k predictions of the
 * pointed token, its top-3 tokens at every layer 0..L and the rank there of
 * the final prediction, from `_NAME_lens` (exbert_lit/lit/measures_model.py).
 * The lens costs about L/2 forward passes, so it is off by default and
 * fetched once per example (all layers in one request) when switched on;
 * models without an LM head (an encoder such as minilm) have no `_NAME_lens`
 * and no toggle.
 */

// tslint:disable:no-new-decorators
import {css, html} from 'lit';
import {action, makeObservable, observable} from 'mobx';

import {IndexedInput, ModelInfoMap, Preds} from '../../client/lib/types';
import {ApiService} from '../../client/services/api_service';

import {firstTopLayer, lensFieldNames, lensLayers, lensRows} from '../lib/lens';
import {displayToken} from '../lib/tokens';

/** `_NAME_lens`, the group member that serves the logit lens. */
export function lensModelName(model: string): string {
  return `_${model}_lens`;
}

/** Layers 0..L of NAME's lens; [] when the server has no `_NAME_lens`. */
export function lensLayersOf(model: string, models: ModelInfoMap): number[] {
  const info = models[lensModelName(model)];
  return info === undefined ? [] : lensLayers(Object.keys(info.spec.output));
}

/** The lens of the selected example: switched on by the user, loaded once per example. */
export class LogitLens {
  @observable enabled = false;
  /** The `_NAME_lens` prediction and the example it belongs to. */
  @observable.ref pred: Preds|null = null;
  @observable inputId: string|null = null;
  @observable error = '';
  private wanted: unknown = null;

  constructor() {
    makeObservable(this);
  }

  @action setEnabled(on: boolean) {
    this.enabled = on;
  }

  /** Fetches the lens of `input` unless it is loaded; a later call wins. */
  async load(api: ApiService, model: string, dataset: string, input: IndexedInput|null,
             layers: number[]) {
    if (!this.enabled || input == null || layers.length === 0) return;
    const key = `${model}\n${input.id}`;
    if (this.wanted === key) return;
    this.wanted = key;
    try {
      const [pred] = await api.getPreds([input], lensModelName(model), dataset, [],
                                        ['tokens', ...lensFieldNames(layers)],
                                        'Computing the logit lens');
      if (this.wanted !== key) return;
      this.set(pred, input.id, '');
    } catch (e) {
      if (this.wanted !== key) return;
      this.wanted = null;
      this.set(null, null, `Could not load the logit lens: ${
          e instanceof Error ? e.message.split('\n')[0] : e}`);
    }
  }

  @action private set(pred: Preds|null, inputId: string|null, error: string) {
    this.pred = pred;
    this.inputId = inputId;
    this.error = error;
  }
}

/** The toggle and, when on and loaded for `inputId`, the table at position `index`. */
export function renderLens(lens: LogitLens, layers: number[], inputId: string|null,
                           index: number|null) {
  if (layers.length === 0) return '';
  const toggle = html`
    <label class="lens-toggle" title="The logit lens (nostalgebraist 2020): what the model's own read-out predicts from each layer's hidden state. About L/2 forward passes, once per example.">
      <input type="checkbox" class="lens-checkbox" .checked=${lens.enabled}
          @change=${(e: Event) => { lens.setEnabled((e.target as HTMLInputElement).checked); }}>
      Logit lens</label>`;
  if (!lens.enabled) return html`<div class="lens">${toggle}</div>`;
  if (lens.error) return html`<div class="lens">${toggle}<div class="error">${lens.error}</div></div>`;
  if (lens.pred === null || lens.inputId !== inputId) {
    return html`<div class="lens">${toggle}<div class="hint">Loading the logit lens…</div></div>`;
  }
  if (index === null) return html`<div class="lens">${toggle}<div class="hint">Hover a token for its lens.</div></div>`;
  const rows = lensRows(lens.pred, layers, index);
  const first = firstTopLayer(rows);
  // clang-format off
  return html`
    <div class="lens">${toggle}
      <table class="lens-table" data-index=${index}>
        <tr><th>layer</th><th>top 3</th><th title="Rank at this layer of the final top-1 token">rank</th></tr>
        ${rows.map(r => html`
          <tr class="lens-row ${r.rank === 1 ? 'top' : ''}" data-layer=${r.layer}>
            <td class="lens-layer">${r.layer}</td>
            <td class="lens-top">${r.top.map(([t, p]) => html`<span class="lens-token" data-token=${t} data-prob=${p}>${displayToken(t)} <span class="lens-prob">${p.toFixed(2)}</span></span>`)}</td>
            <td class="lens-rank">${r.rank ?? ''}</td>
          </tr>`)}
      </table>
      ${first === null ? '' : html`<div class="hint lens-first">final top-1 leads from layer ${first}</div>`}
    </div>`;
  // clang-format on
}

export const lensStyles = css`
  .lens { margin-top: 8px; }
  .lens-table { border-collapse: collapse; font-size: 12px; }
  .lens-table td, .lens-table th { padding: 0 4px; text-align: left; }
  .lens-row.top .lens-layer, .lens-row.top .lens-rank { font-weight: bold; }
  .lens-token { margin-right: 6px; white-space: nowrap; }
  .lens-prob, .lens-rank { font-family: 'Roboto Mono', monospace; color: #5f6368; }
  .lens-first { padding: 2px 0; }
`;
