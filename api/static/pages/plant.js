// The Plant page (a stub): the maintenance pipeline replaces this file with its own page.
// Contract: export default async function render(root, ctx) -> optional cleanup; see app.js.

import { h } from '../lib/dom.js';

export default async function render(root, { t }) {
  root.append(
    h('h1', {}, t('plant.title')),
    h('section.panel.stub', {}, h('p', {}, t('plant.not_running')), h('p.muted', {}, t('plant.appears_here'))),
  );
}
