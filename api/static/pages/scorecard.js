// Scorecard: the pipelines' decisions against the simulators' ground truth (GET /api/v1/scorecard), each
// figure with its number of samples ("—" without data), and a reliability chart of p_fail by decile.

import { h } from '../lib/dom.js';

const SECTIONS = {
  maintenance: ['failures_alerted_share', 'lead_share_median', 'lead_hours_median', 'false_alerts_per_machine_week',
    'rul_mae_hours', 'rul_mae_hours_degrading', 'brier'],
  inventory: ['ledger_matching_share', 'orders_matching_share', 'production_mae_parts'],
  logistics: ['delay_alert_precision', 'delay_alert_recall'],
};
const COUNTS = {
  maintenance: ['failures', 'false_alerts', 'late_alerts', 'machine_weeks'],
  inventory: ['stock_exceptions', 'with_physical_cause', 'without_physical_cause', 'stock_cells_mismatched',
    'parts_made', 'parts_confirmed'],
  logistics: ['trips', 'trips_arrived', 'late_trips'],
};

export default async function render(root, ctx) {
  const { api, t, formatTime, formatNumber, charts } = ctx;
  const card = await api('scorecard');
  const num = (v) => (v === null || v === undefined ? '—' : formatNumber(v));
  const figureRow = (label, f) => h('tr', {}, h('td', {}, label), h('td.num', {}, num(f.value)), h('td.num', {}, String(f.n)));

  const sections = Object.keys(SECTIONS).map((section) => {
    const data = card[section];
    const rows = SECTIONS[section].map((k) => figureRow(t(`scorecard.figure.${k}`), data[k]));
    if (section === 'logistics') {
      for (const p of ['25', '50', '75']) {
        rows.push(figureRow(t('scorecard.figure.eta_mae', { p }), data.eta_error_by_progress[p].eta_mae_min));
        rows.push(figureRow(t('scorecard.figure.naive_mae', { p }), data.eta_error_by_progress[p].naive_mae_min));
      }
      for (const m of ['departed', 'arrived']) {
        rows.push(figureRow(t(`scorecard.figure.milestone_${m}`), data.milestone_error_s[m].mae));
      }
      rows.push(figureRow(t('scorecard.figure.eta_age'), data.eta_age_s.median));
    }
    for (const k of COUNTS[section]) {
      rows.push(h('tr', {}, h('td', {}, t(`scorecard.count.${k}`)), h('td.num', {}, num(data[k])), h('td', {})));
    }
    return h(`section.panel#scorecard-${section}`, {},
      h('h2', {}, t(`scorecard.section.${section}`)),
      h('table.grid', {},
        h('thead', {}, h('tr', {}, h('th', {}, t('scorecard.col.figure')), h('th', {}, t('scorecard.col.value')),
          h('th', {}, t('scorecard.col.n')))),
        h('tbody', {}, rows)));
  });

  const bins = card.maintenance.reliability;
  const chartBox = h('div.chart#reliability-chart', { role: 'img', 'aria-label': t('scorecard.reliability.title') });
  const withData = bins.filter((b) => b.n > 0);
  root.append(
    h('h1', {}, t('scorecard.title')),
    h('p.muted#scorecard-asof', {}, t('scorecard.as_of', { time: formatTime(card.as_of), facts: String(card.facts) })),
    ...sections,
    h('section.panel', {},
      h('h2', {}, t('scorecard.reliability.title')),
      h('p.muted', {}, t('scorecard.reliability.hint')),
      withData.length ? chartBox : h('p.muted#reliability-empty', {}, t('scorecard.reliability.empty'))));

  let chart = null;
  if (withData.length) {
    const xs = bins.map((b) => (b.p_low + b.p_high) / 2);
    const opts = {
      width: Math.max(300, chartBox.clientWidth || 500), height: 220,
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      series: [{ label: t('scorecard.reliability.predicted') },
        { label: t('scorecard.reliability.observed'), stroke: charts.COLORS.accent, width: 2 },
        { label: t('scorecard.reliability.perfect'), stroke: '#888', dash: [4, 4], points: { show: false } }],
    };
    chart = new charts.uPlot(opts, [xs, bins.map((b) => b.observed), xs], chartBox);
  }
  return () => { if (chart) chart.destroy(); };
}
