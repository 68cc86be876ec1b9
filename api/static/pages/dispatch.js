// The Dispatch page (a stub): the logistics pipeline replaces this file with its own page.
// Contract: export default async function render(root, ctx) -> optional cleanup; see app.js.

import { h } from '../lib/dom.js';

export default async function render(root, { t }) {
  root.append(
    h('h1', {}, t('dispatch.title')),
    h('section.panel.stub', {}, h('p', {}, t('dispatch.not_running')), h('p.muted', {}, t('dispatch.appears_here'))),
  );
}
