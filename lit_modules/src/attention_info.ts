/**
 * The attention view's side panel (predictions and the mask action for the
 * pointed token) and its head chips (one heat-map thumbnail per head, click
 * toggles the head), as render functions the module shell calls.
 */

import {html} from 'lit';

import {Rows, renormaliseRows} from '../lib/attention';
import {thumbnailPixels} from '../lib/colors';
import {isHeadSelected} from '../lib/heads';
import {displayToken} from '../lib/tokens';

/** [(token, probability)], best first. */
export type TopK = Array<[string, number]>;

const THUMB_SIZE = 48;

export interface InfoProps {
  tokens: string[];
  special: boolean[];
  preds: TopK[];
  hasPreds: boolean;
  maskToken: string|null|undefined;
  canMask: boolean;
  causal: boolean;
  pointed: number|null;
  maskError: string;
  onMask: (index: number) => void;
  /** Shown under the predictions (the logit lens), '' for none. */
  extra?: unknown;
}

/** Predictions and actions for the hovered, frozen or masked token. */
export function renderInfo(p: InfoProps) {
  const firstMask = p.maskToken != null ? p.tokens.indexOf(p.maskToken) : -1;
  const index = p.pointed ?? (firstMask >= 0 ? firstMask : null);
  const error = p.maskError ? html`<div class="error">${p.maskError}</div>` : '';
  if (index === null) {
    return html`<div class="info">
      <div class="hint">Hover a token for its predictions; click to freeze it
        and search the corpus${p.canMask ? '; double-click to mask it and re-run' : ''}.
        Click a head's column beside the tokens to show it alone, shift-click to add it.</div>
      ${error}${p.extra ?? ''}
    </div>`;
  }
  const token = p.tokens[index];
  const preds = p.preds[index] ?? [];
  const title = p.causal ? html`Next token after <b>${displayToken(token)}</b>` :
                           html`Predictions at <b>${displayToken(token)}</b>`;
  const canMaskThis = p.canMask && !p.special[index] && token !== p.maskToken;
  // clang-format off
  return html`
    <div class="info">
      <div class="info-title">${title} <span class="position">(#${index})</span></div>
      ${!p.hasPreds ? html`<div class="hint">This model has no predictions.</div>` : html`
        <table class="predictions" data-index=${index}>
          ${preds.map(([word, prob]) => html`
            <tr><td class="pred-token">${displayToken(word)}</td>
                <td class="pred-bar"><div style="width:${Math.round(prob * 100)}%"></div></td>
                <td class="pred-prob">${prob.toFixed(3)}</td></tr>`)}
        </table>`}
      ${canMaskThis ? html`
        <button class="hairline-button mask-button" @click=${() => { p.onMask(index); }}>
          Mask "${displayToken(token)}" and re-run</button>` : ''}
      ${error}${p.extra ?? ''}
    </div>`;
  // clang-format on
}

/** One chip per head; a click toggles the head (the canvases are filled by drawHeadThumbnails). */
export function renderHeadChips(
    numHeads: number, heads: number[], onToggle: (head: number) => void) {
  // clang-format off
  return html`
    <div class="head-strips">
      ${Array.from({length: numHeads}, (_, h) => {
        const head = h + 1;
        return html`
          <div class="head-chip ${isHeadSelected(heads, head) ? 'selected' : ''}" data-head=${head}
              title="Head ${head}: click to toggle" @click=${() => { onToggle(head); }}>
            <canvas class="head-thumb" data-head=${head} width=${THUMB_SIZE}
                height=${THUMB_SIZE}></canvas>
            <div class="head-label">${head}</div>
          </div>`;
      })}
    </div>`;
  // clang-format on
}

/** Draws the head thumbnails (one ImageData per head) of `[H, T, T]`. */
export function drawHeadThumbnails(
    root: ShadowRoot|null, attention: ArrayLike<Rows>, visible: boolean[],
    hideSpecials: boolean) {
  const keep = visible.map((v, i) => (v ? i : -1)).filter(i => i >= 0);
  const canvases: ArrayLike<HTMLCanvasElement> = root?.querySelectorAll<HTMLCanvasElement>('canvas.head-thumb') ?? [];
  for (const canvas of Array.from(canvases)) {
    const raw = attention[Number(canvas.dataset['head']) - 1];
    const context = canvas.getContext('2d');
    if (raw === undefined || context === null) continue;
    const m = hideSpecials ? renormaliseRows(raw, visible) :
                             Array.from(raw, row => row as unknown as number[]);
    const image = context.createImageData(THUMB_SIZE, THUMB_SIZE);
    image.data.set(thumbnailPixels(m, keep, THUMB_SIZE));
    context.putImageData(image, 0, 0);
  }
}
