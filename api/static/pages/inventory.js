// The Inventory page (a stub): the inventory pipeline replaces this file with its own page.
// Contract: export default async function render(root, ctx) -> optional cleanup; see app.js.

import { h } from '../lib/dom.js';

export default async function render(root, { t }) {
  root.append(
    h('h1', {}, t('inventory.title')),
    h('section.panel.stub', {}, h('p', {}, t('inventory.not_running')), h('p.muted', {}, t('inventory.appears_here'))),
  );
}
