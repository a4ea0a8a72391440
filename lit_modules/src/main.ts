/**
 * Entry of the exbert-lit client bundle. LIT's webpack config compiles LIT's
 * own app (its main.ts, services and every stock module) with the files of
 * this directory; this file adds the exBERT views and keeps their state in
 * the URL. Importing the modules registers their custom elements, which is
 * how a Python layout finds them by tag name.
 */

import './attention_module';
import './corpus_module';
import './generation_module';
import './head_grid_module';
import './probe_module';

import {applyLayoutSettings} from './layout_settings';
import {syncStateToUrl} from './view_state';

syncStateToUrl();
applyLayoutSettings();
