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
