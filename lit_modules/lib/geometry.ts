/**
 * Geometry of the attention view: two columns of tokens joined by curves.
 * Pure functions so the layout is tested without a browser.
 */

export interface ColumnLayout {
  /** y of the first row's top edge. */
  top: number;
  rowHeight: number;
  /** x where curves leave the left column and enter the right one. */
  leftX: number;
  rightX: number;
}

/**
 * Row of each token once hidden tokens are removed from the columns:
 * -1 for hidden tokens, else 0, 1, 2, ... in order.
 */
export function rowIndices(visible: boolean[]): number[] {
  let row = 0;
  return visible.map(v => (v ? row++ : -1));
}

/** Vertical centre of row r. */
export function rowCentre(row: number, layout: ColumnLayout): number {
  return layout.top + (row + 0.5) * layout.rowHeight;
}

/** Total height of n rows, for sizing the SVG. */
export function columnHeight(rows: number, layout: ColumnLayout): number {
  return layout.top * 2 + rows * layout.rowHeight;
}

/**
 * An S-shaped cubic Bezier from (x0, y0) to (x1, y1) with horizontal
 * tangents at both ends, as an SVG path. Numbers are rounded to 0.1 px to
 * keep the DOM small.
 */
export function curvePath(x0: number, y0: number, x1: number, y1: number):
    string {
  const r = (v: number) => Math.round(v * 10) / 10;
  const mx = r((x0 + x1) / 2);
  return `M${r(x0)},${r(y0)} C${mx},${r(y0)} ${mx},${r(y1)} ${r(x1)},${r(y1)}`;
}

/** Path for an edge between row `from` (left) and row `to` (right). */
export function edgePath(from: number, to: number, layout: ColumnLayout):
    string {
  return curvePath(
      layout.leftX, rowCentre(from, layout), layout.rightX,
      rowCentre(to, layout));
}

/**
 * Row under a y offset (from the top of the columns), or -1 above the first
 * or below the last of `numRows` rows: the view's hit-test for hover and
 * click, one division instead of an event listener per token.
 */
export function rowAt(y: number, layout: ColumnLayout, numRows: number): number {
  const row = Math.floor((y - layout.top) / layout.rowHeight);
  return row >= 0 && row < numRows ? row : -1;
}

/**
 * The rows a scrolled window shows, [first, last] inclusive (partly visible
 * rows count), for drawing only what is on screen. [0, -1] when none.
 */
export function visibleRows(
    scrollTop: number, viewHeight: number, layout: ColumnLayout,
    numRows: number): [number, number] {
  if (numRows <= 0 || viewHeight <= 0) return [0, -1];
  const first = Math.max(0, Math.floor((scrollTop - layout.top) / layout.rowHeight));
  const last = Math.min(
      numRows - 1, Math.floor((scrollTop + viewHeight - layout.top) / layout.rowHeight));
  return first > last ? [0, -1] : [first, last];
}

/**
 * Token index of each row (the inverse of rowIndices): tokens[rows] for
 * drawing only rows first..last.
 */
export function tokensOfRows(rows: number[]): number[] {
  const tokens: number[] = [];
  rows.forEach((row, token) => {
    if (row >= 0) tokens[row] = token;
  });
  return tokens;
}
