import {strict as assert} from 'node:assert';
import {describe, it} from 'node:test';

import {attentionSvg, escapeXml, figureCaption} from './export_svg';

const LAYOUT = {top: 4, rowHeight: 20, leftX: 60, rightX: 230};

describe('SVG export', () => {
  const svg = attentionSvg({
    shown: ['[CLS]', 'a<b', '', 'cat'],
    rowOf: [0, 1, -1, 2],
    muted: [true, false, false, false],
    edges: [{from: 1, to: 3, weight: 0.64}, {from: 2, to: 1, weight: 0.9}],
    textWidth: 50,
    caption: 'm · layer 2 · all heads',
  }, LAYOUT);
  it('draws visible edges only, with their weights', () => {
    const paths = svg.match(/<path [^>]*>/g) ?? [];
    assert.equal(paths.length, 1);
    assert.match(paths[0], /d="M60,34 C145,34 145,54 230,54"/);
    assert.match(paths[0], /stroke-opacity="0.8"/);
    assert.match(paths[0], /data-weight="0.6400"/);
  });
  it('writes both columns escaped and the caption', () => {
    assert.equal((svg.match(/a&lt;b/g) ?? []).length, 2);
    assert.ok(!svg.includes('a<b'));
    assert.match(svg, /class="caption"[^>]*>m · layer 2 · all heads</);
    assert.match(svg, /width="288" height="96"/);
    assert.match(svg, /fill="#9aa0a6" data-index="0">\[CLS\]/);
  });
  it('escapes XML', () => assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;'));
  const captions: Array<[Parameters<typeof figureCaption>[0], string]> = [
    [{model: 'minilm', layer: 4, heads: [], measure: 'weights', threshold: 0.7, zeroSpecials: false,
      hideSpecials: false}, 'minilm · layer 4 · all heads · weights · threshold 70%'],
    [{model: 'smollm2', layer: 1, heads: [3], measure: 'rollout', threshold: 1, zeroSpecials: true,
      hideSpecials: true},
     'smollm2 · layer 1 · head 3 · rollout · threshold 100% · specials zeroed · specials hidden'],
    [{model: 'm', layer: 2, heads: [1, 3], measure: 'weights', threshold: 0.55, zeroSpecials: false,
      hideSpecials: false}, 'm · layer 2 · heads 1,3 · weights · threshold 55%'],
  ];
  for (const [parts, text] of captions) {
    it(`captions ${text}`, () => assert.equal(figureCaption(parts), text));
  }
});
