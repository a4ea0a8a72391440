/** Styles of the attention view's shell (toolbar, info panel, head chips). */

import {css} from 'lit';

export const attentionStyles = css`
  .exbert-body {
    padding: 6px;
    overflow: auto;
    display: flex;
    flex-direction: column;
    gap: 8px;
  }
  .module-toolbar {
    flex-wrap: wrap;
    row-gap: 4px;
  }
  .control {
    display: inline-flex;
    align-items: center;
    gap: 4px;
    margin-right: 12px;
  }
  .head-set {
    width: 110px;
  }
  .head-set.invalid {
    outline: 1px solid #c5221f;
  }
  .threshold {
    width: 90px;
  }
  .threshold-value {
    font-family: 'Roboto Mono', monospace;
    width: 3.5em;
  }
  .error {
    color: #c5221f;
    margin-right: 8px;
  }
  .badge {
    border-radius: 8px;
    padding: 0 6px;
    background: #e8eaed;
  }
  .message, .hint {
    color: #5f6368;
    padding: 8px;
  }
  .graph-and-info {
    display: flex;
    flex-wrap: wrap;
    gap: 16px;
    align-items: flex-start;
    flex: none;
  }
  exbert-attention-canvas {
    flex: none;
  }
  .info {
    min-width: 200px;
    max-width: 320px;
  }
  .info-title {
    margin-bottom: 4px;
  }
  .position {
    color: #5f6368;
  }
  .predictions {
    border-collapse: collapse;
  }
  .predictions td {
    padding: 1px 4px;
  }
  .pred-bar {
    width: 100px;
  }
  .pred-bar div {
    height: 10px;
    background: #1a73e8;
  }
  .pred-prob {
    font-family: 'Roboto Mono', monospace;
    color: #5f6368;
  }
  .mask-button {
    margin-top: 6px;
  }
  .head-strips {
    flex: none;
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
  }
  .head-chip {
    border: 2px solid transparent;
    border-radius: 4px;
    padding: 2px;
    cursor: pointer;
    opacity: 0.45;
    text-align: center;
  }
  .head-chip.selected {
    border-color: #1a73e8;
    opacity: 1;
  }
  .head-label {
    font-size: 11px;
  }
  .export-buttons {
    margin-left: auto;
    display: inline-flex;
    gap: 4px;
  }
`;
