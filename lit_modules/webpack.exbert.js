/**
 * Webpack config for the exbert-lit client: LIT's own config (its loaders,
 * production minification, and the entry that compiles LIT's app with every
 * stock module), with only our entry kept. build.sh copies this file into
 * lit_nlp/client/webpack/ of the temporary build tree.
 */
const litConfig = require('./config.js');

module.exports = (env = {}) => {
  const config = litConfig({...env, production: 'production', build: 'exbert_lit_client'});
  // LIT's config also builds its stock bundle ("default"); we need only ours.
  delete config.entry.default;
  const onEnd = config.plugins.find(p => p.constructor.name === 'FileManagerPlugin');
  if (onEnd === undefined) throw new Error('LIT webpack config changed: no FileManagerPlugin');
  const events = onEnd.options.events.onEnd;
  events.copy = events.copy.filter(c => !c.destination.endsWith('build/default/static'));
  // Keep the third-party license notices that Terser extracts beside main.js.
  const moved = events.move.find(m => m.source.endsWith('exbert_lit_client/main.js'));
  events.move.push({
    source: moved.source + '.LICENSE.txt',
    destination: moved.destination + '.LICENSE.txt',
  });
  config.watch = false;
  return config;
};
