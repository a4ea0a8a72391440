/**
 * Makes a layout's `mainHeight` and `leftWidth` (lit_nlp/api/layout.py
 * LayoutSettings) take effect.
 *
 * LIT 1.3's <lit-modules> reads them in a reaction on
 * ModulesService.declaredLayout, which is not observable, set up when the
 * element connects: the app renders it before it declares the first layout,
 * so the reaction sees no settings and never runs again (nor on a layout
 * switch), and every layout opens split 50/50 whatever it asks for. This
 * applies them once each time a layout is declared, as LIT intends; the
 * divider's drag and its preset buttons work as before.
 */

import {reaction} from 'mobx';

import {app} from '../../client/core/app';
import {LitModules} from '../../client/core/modules';
import {ModulesService} from '../../client/services/modules_service';

/** Animation frames to wait for <lit-modules> to render before giving up. */
const MAX_FRAMES = 120;

function litModules(): LitModules|null {
  return document.querySelector('lit-app')?.shadowRoot?.querySelector('lit-modules') ?? null;
}

let installed = false;

export function applyLayoutSettings() {
  if (installed) return;
  installed = true;
  const modulesService = app.getService(ModulesService);
  let applied: unknown = null;
  const apply = (framesLeft: number) => {
    const declared = modulesService.declaredLayout;
    if (declared === applied) return;
    const element = litModules();
    if (element === null) {
      if (framesLeft > 0) requestAnimationFrame(() => {
        apply(framesLeft - 1);
      });
      return;
    }
    applied = declared;
    const mainHeight = modulesService.getSetting('mainHeight');
    if (mainHeight != null) element.upperHeight = `${mainHeight}%`;
    const leftWidth = modulesService.getSetting('leftWidth');
    if (leftWidth != null) element.leftColumnWidth = `${leftWidth}%`;
  };
  // A new render layout follows every initializeLayout (first load, layout
  // switch); model and dataset changes also make one, with the same declared
  // layout, and leave the user's divider where it is.
  reaction(() => modulesService.getRenderLayout(), () => {
    apply(MAX_FRAMES);
  });
}
