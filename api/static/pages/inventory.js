// Inventory: stock per material x location against its reorder point and safety stock (a bar chart with
// markers), when each runs out at the current demand, stock movements per hour by kind (a chart), the latest
// movements and the stock exceptions (movements that took stock below zero: applied and flagged).

import { ApiError, apiUrl, authHeaders } from '../lib/api.js';
import { h, replaceChildren } from '../lib/dom.js';

const REFRESH_MS = 10000;
const KINDS = ['goods_receipt', 'production_receipt', 'transfer', 'backflush', 'goods_issue'];
const KIND_COLORS = {
  goods_receipt: '#1e8e3e', production_receipt: '#1a73e8', transfer: '#5f6b7a', backflush: '#e8710a', goods_issue: '#b3261e',
};

function stockState(s) {
  const qty = Number(s.quantity);
  if (qty < 0) return 'negative';
  if (s.below_reorder_point) return 'low';
  return 'ok';
}

/** Movements of the last ``hours`` hours, counted per hour and kind: uPlot's columns. */
function hourlyCounts(movements, hours = 24) {
  const latest = movements.reduce((m, mv) => Math.max(m, Date.parse(mv.occurred_at)), 0);
  const end = Math.floor(latest / 3600000) * 3600 + 3600;
  const xs = Array.from({ length: hours }, (_, i) => end - (hours - i) * 3600);
  const columns = KINDS.map(() => new Array(hours).fill(0));
  for (const mv of movements) {
    const slot = Math.floor((Date.parse(mv.occurred_at) / 1000 - xs[0]) / 3600);
    const kind = KINDS.indexOf(mv.movement_type);
    if (kind >= 0 && slot >= 0 && slot < hours) columns[kind][slot] += 1;
  }
  return [xs, ...columns];
}

export default async function render(root, ctx) {
  const { api, t, formatTime, formatNumber, charts } = ctx;
  let chart = null;
  let timer = null;
  let stopped = false;

  const notice = h('p.notice#inventory-notice', { role: 'status', hidden: true });
  const onlyPolicies = h('input#stock-policies-only', { type: 'checkbox', checked: true });
  const stockChart = h('div#stock-chart.stock-chart', { role: 'img', 'aria-label': t('inventory.stock.title') });
  const legend = h('p.muted.stock-legend', {},
    h('span.swatch.bar', {}), t('inventory.stock.legend_quantity'), ' ',
    h('span.swatch.rop', {}), t('inventory.stock.legend_rop'), ' ',
    h('span.swatch.ss', {}), t('inventory.stock.legend_ss'));
  const movementChart = h('div.chart#movement-chart', { role: 'img', 'aria-label': t('inventory.movements.chart') });
  const movementsBody = h('tbody#movement-rows');
  const exceptionsBody = h('tbody#exception-rows');
  const csvLink = h('a#movements-csv', { href: '#/inventory', onclick: (e) => { e.preventDefault(); downloadCsv(); } },
    t('inventory.movements.csv'));

  root.append(
    h('h1', {}, t('inventory.title')),
    notice,
    h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, t('inventory.stock.title')),
        h('label', {}, onlyPolicies, ' ', t('inventory.stock.policies_only'))),
      h('p.muted', {}, t('inventory.stock.hint')), legend, stockChart),
    h('section.panel', {},
      h('h2', {}, t('inventory.movements.chart')), movementChart),
    h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, t('inventory.exceptions.title'))),
      h('table.grid', {},
        h('thead', {}, h('tr', {}, ['at', 'material', 'location', 'kind', 'quantity', 'on_hand', 'reason'].map((c) =>
          h('th', {}, t(`inventory.exceptions.${c}`))))),
        exceptionsBody)),
    h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, t('inventory.movements.title')), csvLink),
      h('table.grid', {},
        h('thead', {}, h('tr', {}, ['at', 'kind', 'material', 'quantity', 'from', 'to', 'reference'].map((c) =>
          h('th', {}, t(`inventory.movements.${c}`))))),
        movementsBody)));

  function say(text, isError = false) {
    notice.hidden = false;
    notice.textContent = text;
    notice.classList.toggle('error', isError);
  }

  function qty(value) {
    return formatNumber(Number(value), { maximumFractionDigits: 3 });
  }

  function drawStock(stock) {
    const rows = stock.filter((s) => !onlyPolicies.checked || s.reorder_point !== null);
    if (!rows.length) {
      replaceChildren(stockChart, h('p.muted', {}, t('inventory.stock.none')));
      return;
    }
    replaceChildren(stockChart, rows.map((s) => {
      const q = Number(s.quantity);
      const scale = Math.max(1, s.max_stock || 0, q, s.reorder_point || 0);
      const pct = (v) => `${Math.max(0, Math.min(100, (100 * v) / scale)).toFixed(1)}%`;
      const runOut = s.projected_run_out ? t('inventory.stock.run_out', { at: formatTime(s.projected_run_out, 'short') })
        : t('inventory.stock.no_demand');
      return h('div.stock-row', { 'data-key': `${s.material_id}@${s.location_id}`, 'data-state': stockState(s) },
        h('div.stock-label', {}, h('strong', {}, s.material_id), ' ', h('span.muted', {}, s.location_id)),
        h('div.bar-track', { title: t('inventory.stock.tooltip', { q: qty(q), rop: s.reorder_point === null ? '—' : qty(s.reorder_point),
          ss: s.safety_stock === null ? '—' : qty(s.safety_stock) }) },
          h('div.bar', { style: `width: ${pct(q)}` }),
          s.safety_stock === null ? null : h('div.marker.ss', { style: `left: ${pct(s.safety_stock)}` }),
          s.reorder_point === null ? null : h('div.marker.rop', { style: `left: ${pct(s.reorder_point)}` })),
        h('div.stock-value', {}, h('span.quantity', {}, qty(q)), ' ', h('span.muted.run-out', {}, runOut)));
    }));
  }

  function drawMovementChart(movements) {
    const data = hourlyCounts(movements);
    if (!chart) {
      chart = charts.timeChart(movementChart, {
        height: 200,
        series: KINDS.map((k) => ({ label: t(`inventory.kind.${k}`), color: KIND_COLORS[k] })),
        data,
      });
    } else chart.update(data);
  }

  function drawMovements(movements) {
    if (!movements.length) {
      replaceChildren(movementsBody, h('tr', {}, h('td.muted', { colspan: 7 }, t('inventory.movements.none'))));
      return;
    }
    replaceChildren(movementsBody, movements.slice(0, 50).map((m) => h('tr', { 'data-kind': m.movement_type },
      h('td', {}, formatTime(m.occurred_at, 'short')), h('td', {}, t(`inventory.kind.${m.movement_type}`)),
      h('td', {}, m.material_id), h('td', {}, qty(m.quantity)), h('td', {}, m.from_location_id || '—'),
      h('td', {}, m.to_location_id || '—'), h('td', {}, m.reference || m.epc || ''))));
  }

  function drawExceptions(exceptions) {
    if (!exceptions.length) {
      replaceChildren(exceptionsBody, h('tr', {}, h('td.muted', { colspan: 7 }, t('inventory.exceptions.none'))));
      return;
    }
    replaceChildren(exceptionsBody, exceptions.map((e) => h('tr.failed', { 'data-movement': e.movement_id },
      h('td', {}, formatTime(e.occurred_at, 'short')), h('td', {}, e.material_id), h('td', {}, e.location_id),
      h('td', {}, t(`inventory.kind.${e.movement_type}`)), h('td', {}, qty(e.quantity)), h('td', {}, qty(e.on_hand)),
      h('td', {}, e.reason))));
  }

  async function downloadCsv() {
    try {
      const answer = await fetch(apiUrl('movements', { format: 'csv', limit: 10000 }), { headers: authHeaders(), cache: 'no-store' });
      if (!answer.ok) throw new ApiError(answer.status, answer.statusText);
      const blob = new Blob([await answer.text()], { type: 'text/csv' });
      const link = h('a', { href: URL.createObjectURL(blob), download: 'movements.csv' });
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) say(t('inventory.load_failed'), true);
    }
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [stock, movements, exceptions] = await Promise.all([
        api('stock', { query: { limit: 1000 } }),
        api('movements', { query: { limit: 1000 } }),
        api('stock/exceptions', { query: { limit: 20 } }),
      ]);
      if (stopped) return;
      notice.hidden = true;
      drawStock(stock);
      drawMovementChart(movements);
      drawMovements(movements);
      drawExceptions(exceptions);
    } catch (err) {
      if (!stopped && !(err instanceof ApiError && err.status === 401)) {
        say(err instanceof ApiError && err.status === 403 ? t('inventory.forbidden') : t('inventory.load_failed'), true);
      }
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  onlyPolicies.addEventListener('change', () => refresh());
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    chart?.destroy();
  };
}
