/**
 * State shared by the exBERT views: the layer, heads and token chosen in the
 * attention view drive the corpus view. One observable object, mirrored into
 * the URL (`exbert_*` parameters) so an experiment is a link.
 */

// tslint:disable:no-new-decorators
import {action, autorun, makeObservable, observable} from 'mobx';

import {Measure} from '../lib/measures';
import {DEFAULT_OFFSETS} from '../lib/notation';
import {CharSpan, LinkedToken} from '../lib/segments';
import {DEFAULT_THRESHOLD} from '../lib/threshold';
import {decodeState, SearchKind, ViewState, withState} from '../lib/url_state';

/** The sentence a model's attention view shows: its word-pieces and their character spans. */
export interface ViewSentence {
  inputId: string;
  tokens: string[];
  spans: Array<CharSpan|null>;
}

/** The fields of the state that are not part of the URL. */
interface PageState {
  sentenceTokens: string[];
  sentences: {[model: string]: ViewSentence};
  linked: LinkedToken|null;
}

/** The views' observable state; change it only through `update`. */
export class ExbertViewState implements ViewState {
  @observable layer: number|null = null;
  @observable.ref heads: number[] = [];
  @observable token: number|null = null;
  @observable side: 'left'|'right' = 'left';
  @observable hideSpecials = false;
  @observable zeroSpecials = false;
  @observable threshold = DEFAULT_THRESHOLD;
  @observable measure: Measure = 'weights';
  @observable kind: SearchKind = 'context';
  @observable inputLayer = false;
  @observable.ref offsets: number[] = [...DEFAULT_OFFSETS];
  /**
   * Word-pieces of the sentence in the attention view, so the corpus view can
   * name the token it searches for. Not part of the URL.
   */
  @observable.ref sentenceTokens: string[] = [];
  /**
   * The same per model (LIT's compare mode shows a view per model), with the
   * character spans that link a token of one model to the other's: the
   * corpus view of each model searches its own token. Not part of the URL.
   */
  @observable.ref sentences: {[model: string]: ViewSentence} = {};
  /**
   * The frozen token's character span and the model whose view froze it: the
   * views of other models (LIT's compare mode) freeze their token over the
   * same characters. Not part of the URL.
   */
  @observable.ref linked: LinkedToken|null = null;

  constructor(initial: ViewState) {
    Object.assign(this, initial);
    makeObservable(this);
  }

  @action
  update(changes: Partial<ViewState&PageState>) {
    Object.assign(this, changes);
  }

  /**
   * One head of a layer, from a view that names heads (the head grid): the
   * attention view shows it and the corpus view searches C(layer) with it.
   */
  @action
  selectHead(layer: number, head: number) {
    Object.assign(this, {layer, heads: [head], kind: 'context', inputLayer: false});
  }

  snapshot(): ViewState {
    return {
      layer: this.layer,
      heads: this.heads,
      token: this.token,
      side: this.side,
      hideSpecials: this.hideSpecials,
      zeroSpecials: this.zeroSpecials,
      threshold: this.threshold,
      measure: this.measure,
      kind: this.kind,
      inputLayer: this.inputLayer,
      offsets: this.offsets,
    };
  }
}

/** The page's one state object, read from the URL the page was opened with. */
export const exbertState =
    new ExbertViewState(decodeState(new URLSearchParams(window.location.search)));

let urlSyncInstalled = false;

/**
 * Keeps our parameters in the URL. LIT's URL service rewrites the whole query
 * from its own state with history.replaceState whenever that state changes,
 * so every replaceState is given our parameters too, and our own changes
 * rewrite the current URL.
 */
export function syncStateToUrl() {
  if (urlSyncInstalled) return;
  urlSyncInstalled = true;
  const history = window.history;
  const replaceState = history.replaceState.bind(history);
  const current = () =>
      window.location.pathname + window.location.search + window.location.hash;
  history.replaceState =
      (data: unknown, unused: string, url?: string|URL|null) => {
        const target = url == null ? current() : String(url);
        replaceState(data, unused, withState(target, exbertState.snapshot()));
      };
  autorun(() => {
    exbertState.snapshot();  // observe every field
    history.replaceState(history.state, '', current());
  });
}
