/**
 * The attention view as a stand-alone SVG file: both token columns, the
 * curves drawn at the current layer, heads, measure and threshold, and a
 * caption saying which those are. Pure (a string), so the export is tested
 * without a browser; the PNG export rasterises this same SVG.
 */

import {curveStyle} from './colors';
import {ColumnLayout, edgePath, rowCentre} from './geometry';
import {Edge} from './threshold';

export interface SvgFigure {
  /** Text of each token as shown ('' = hidden), by token index. */
  shown: string[];
  /** Row of each token (-1 = hidden), as rowIndices gives it. */
  rowOf: number[];
  /** Greyed tokens (specials), by token index. */
  muted: boolean[];
  edges: Edge[];
  /** Width of a token column in px. */
  textWidth: number;
  /** One line under the figure, e.g. "minilm · layer 4 · heads 1,3 · weights · 70%". */
  caption: string;
}

const CAPTION_HEIGHT = 28;
const FONT = 'font-family="Roboto, Arial, sans-serif" font-size="13"';

/** `&`, `<`, `>` and quotes escaped for XML text and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The caption's parts joined as the view writes it. */
export function figureCaption(parts: {
  model: string, layer: number, heads: number[], measure: string,
  threshold: number, zeroSpecials: boolean, hideSpecials: boolean,
}): string {
  const heads = parts.heads.length === 0 ? 'all heads' :
                                           `head${parts.heads.length > 1 ? 's' : ''} ${parts.heads.join(',')}`;
  const extras = [
    parts.zeroSpecials ? 'specials zeroed' : '',
    parts.hideSpecials ? 'specials hidden' : '',
  ].filter(s => s !== '');
  return [parts.model, `layer ${parts.layer}`, heads, parts.measure,
          `threshold ${Math.round(parts.threshold * 100)}%`, ...extras].join(' · ');
}

/** The SVG document; its size is set by the rows and the text width. */
export function attentionSvg(figure: SvgFigure, layout: ColumnLayout): string {
  const numRows = figure.rowOf.reduce((n, r) => Math.max(n, r + 1), 0);
  const width = Math.round(layout.rightX + figure.textWidth + 8);
  const columns = layout.top * 2 + numRows * layout.rowHeight;
  const height = columns + CAPTION_HEIGHT;
  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
        `viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    '<g class="edges" fill="none" stroke="#1a73e8">',
  ];
  for (const e of figure.edges) {
    const from = figure.rowOf[e.from];
    const to = figure.rowOf[e.to];
    if (from < 0 || to < 0) continue;
    const style = curveStyle(e.weight);
    lines.push(`<path d="${edgePath(from, to, layout)}" stroke-opacity="${style.opacity}" ` +
               `stroke-width="${style.width}" data-from="${e.from}" data-to="${e.to}" ` +
               `data-weight="${e.weight.toFixed(4)}"/>`);
  }
  lines.push('</g>');
  for (const side of ['left', 'right'] as const) {
    lines.push(`<g class="${side}-column" ${FONT} dominant-baseline="middle" ` +
               `text-anchor="${side === 'left' ? 'end' : 'start'}">`);
    const x = side === 'left' ? layout.leftX - 6 : layout.rightX + 6;
    figure.shown.forEach((text, i) => {
      const row = figure.rowOf[i];
      if (row < 0) return;
      const fill = figure.muted[i] ? '#9aa0a6' : '#202124';
      lines.push(`<text x="${x}" y="${rowCentre(row, layout)}" fill="${fill}" ` +
                 `data-index="${i}">${escapeXml(text)}</text>`);
    });
    lines.push('</g>');
  }
  lines.push(`<text class="caption" x="8" y="${columns + CAPTION_HEIGHT / 2}" ` +
             `${FONT} fill="#5f6368" dominant-baseline="middle">${
                 escapeXml(figure.caption)}</text>`);
  lines.push('</svg>');
  return lines.join('\n');
}
