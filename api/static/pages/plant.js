// The Plant page: one card per machine with its health (0-100), remaining-useful-life band and interval, state,
// active maintenance alert, OPC-UA endpoint status and latest readings with sparklines (uPlot), refreshed every
// few seconds from GET /api/v1/machines. #/plant/<machine_id> shows one machine: its health / failure-risk
// history, RUL with interval, the features that drive the score, and its key signals over time.

import { ApiError } from '../lib/api.js';
import { h, replaceChildren } from '../lib/dom.js';

const REFRESH_MS = 5000;
const SIGNALS = ['spindle_temperature', 'vibration_rms', 'motor_current', 'spindle_speed'];
const BANDS = ['imminent', 'soon', 'ok', 'unknown'];
const BAND_COLORS = { imminent: '#b3261e', soon: '#e8710a', ok: '#1e8e3e', unknown: '#5f6b7a' };

function healthColor(health) {
  if (health === null || health === undefined) return '#5f6b7a';
  if (health < 30) return '#b3261e';
  return health < 60 ? '#e8710a' : '#1e8e3e';
}

function number(ctx, value, digits = 1) {
  return value === null || value === undefined ? '–' : ctx.formatNumber(value, { maximumFractionDigits: digits });
}

function rulText(ctx, score) {
  if (!score) return ctx.t('plant.rul.none');
  return ctx.t('plant.rul.value', {
    rul: number(ctx, score.rul), low: number(ctx, score.rul_low), high: number(ctx, score.rul_high),
    unit: ctx.t(`plant.unit.${score.rul_unit === 'hours' ? 'hours' : 'cycles'}`),
  });
}

/** A tiny line chart of one signal (no axes, no legend). */
function sparkline(el, ctx, points, color) {
  const data = [points.map((p) => Date.parse(p.time) / 1000), points.map((p) => p.value)];
  const opts = {
    width: 120, height: 32, legend: { show: false }, cursor: { show: false }, select: { show: false },
    scales: { x: { time: true } }, axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color, width: 1.5, points: { show: false } }],
  };
  return new ctx.charts.uPlot(opts, data, el);
}

function endpointState(endpoints, machine) {
  const found = endpoints.find((e) => e.url === machine.endpoint || e.endpoint === machine.endpoint);
  return found && ['online', 'offline'].includes(found.state) ? found.state : 'unknown';
}

function card(ctx, m, endpoints, sparks) {
  const { t, formatTime } = ctx;
  const health = m.score ? m.score.health : null;
  const state = m.state || 'unknown';
  const latest = Object.fromEntries(m.latest.map((r) => [r.tag, r]));
  const lines = SIGNALS.map((signal) => {
    const box = h('span.spark', { 'data-signal': signal });
    const points = m.sparklines[signal] || [];
    if (points.length > 1) sparks.push(sparkline(box, ctx, points, '#1a73e8'));
    return h('div.reading', { 'data-signal': signal },
      h('span.label', {}, t(`plant.signal.${signal}`)),
      h('span.value', {}, latest[signal] ? number(ctx, latest[signal].value, 2) : '–'),
      box);
  });
  const endpoint = endpointState(endpoints, m);
  return h('article.panel.machine', { 'data-machine': m.id, 'data-band': m.rul_band, 'data-state': state },
    h('div.panel-head', {},
      h('h2', {}, h('a', { href: `#/plant/${encodeURIComponent(m.id)}` }, `${m.name} (${m.id})`)),
      h('span.state', { 'data-state': state }, t(`plant.state.${['running', 'idle', 'down', 'maintenance'].includes(state) ? state : 'unknown'}`))),
    h('div.health', {},
      h('span.health-value', { style: `color:${healthColor(health)}` }, health === null ? '–' : number(ctx, health, 0)),
      h('span.muted', {}, t('plant.health')),
      h('div.health-bar', {}, h('div', { style: `width:${health ?? 0}%;background:${healthColor(health)}` }))),
    h('p.rul', {},
      h('span.band', { 'data-band': m.rul_band, style: `background:${BAND_COLORS[m.rul_band]}` }, t(`plant.band.${m.rul_band}`)),
      ' ', rulText(ctx, m.score)),
    m.score && m.score.confidence === 'low' ? h('p.muted.low-confidence', {}, t('plant.low_confidence')) : null,
    m.alert ? h('p.alert-line', { 'data-severity': m.alert.severity },
      t('plant.alert', { severity: t(`shell.severity.${m.alert.severity}`), since: formatTime(m.alert.opened_at, 'short') })) : null,
    h('div.readings', {}, lines),
    h('p.muted.endpoint', { 'data-endpoint-state': endpoint },
      t('plant.endpoint', { state: t(`shell.opcua.state.${endpoint}`) }),
      m.last_reading_at ? ` · ${t('plant.last_reading', { time: formatTime(m.last_reading_at, 'short') })}` : ''));
}

async function overview(root, ctx) {
  const { api, t } = ctx;
  const grid = h('div.machines#machines');
  const summary = h('div.chart#band-summary', { role: 'img', 'aria-label': t('plant.summary') });
  const notice = h('p.notice#plant-notice', { role: 'status', hidden: true });
  root.append(h('h1', {}, t('plant.title')), notice, h('p.muted', {}, t('plant.hint')), summary, grid);
  let sparks = [];
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const [machines, endpoints] = await Promise.all([
        api('machines'),
        api('opcua/endpoints').catch(() => []),
      ]);
      if (stopped) return;
      sparks.forEach((s) => s.destroy());
      sparks = [];
      notice.hidden = machines.some((m) => m.score);
      notice.textContent = t('plant.not_running');
      replaceChildren(summary, BANDS.map((band) => {
        const n = machines.filter((m) => m.rul_band === band).length;
        return h('span.band-count', { 'data-band': band, hidden: n === 0, style: `flex-grow:${Math.max(n, 0.0001)};background:${BAND_COLORS[band]}`,
          title: t(`plant.band.${band}`) }, n ? `${t(`plant.band.${band}`)} ${n}` : '');
      }));
      replaceChildren(grid, machines.map((m) => card(ctx, m, endpoints, sparks)));
    } catch (err) {
      if (stopped || (err instanceof ApiError && err.status === 401)) return;
      notice.hidden = false;
      notice.textContent = err instanceof ApiError && err.status === 403 ? t('plant.forbidden') : t('plant.load_failed');
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    sparks.forEach((s) => s.destroy());
  };
}

async function machinePage(root, ctx, machineId) {
  const { api, t, charts, formatTime } = ctx;
  const title = h('h1', {}, t('plant.machine.title', { id: machineId }));
  const facts = h('p.rul#machine-rul');
  const scoreBox = h('div.chart#score-chart', { role: 'img', 'aria-label': t('plant.machine.score_chart') });
  const rulBox = h('div.chart#rul-chart', { role: 'img', 'aria-label': t('plant.machine.rul_chart') });
  const features = h('ol.features#top-features');
  const signalBoxes = Object.fromEntries(SIGNALS.map((s) => [s, h('div.chart', { id: `signal-${s}`, role: 'img',
    'aria-label': t(`plant.signal.${s}`) })]));
  const notice = h('p.notice', { role: 'status', hidden: true });
  root.append(title, h('p', {}, h('a', { href: '#/plant' }, t('plant.machine.back'))), notice, facts,
    h('section.panel', {}, h('h2', {}, t('plant.machine.score_chart')), scoreBox),
    h('section.panel', {}, h('h2', {}, t('plant.machine.rul_chart')), rulBox),
    h('section.panel', {}, h('h2', {}, t('plant.machine.features')), features),
    h('section.panel', {}, h('h2', {}, t('plant.machine.signals')),
      h('div.signal-grid', {}, SIGNALS.map((s) => h('div', {}, h('h3', {}, t(`plant.signal.${s}`)), signalBoxes[s])))));
  const drawn = [];
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const history = await api(`machines/${encodeURIComponent(machineId)}/scores`);
      if (stopped) return;
      drawn.splice(0).forEach((c) => c.destroy());
      const scores = history.scores;
      const x = scores.map((s) => Date.parse(s.at) / 1000);
      const last = scores[scores.length - 1];
      replaceChildren(facts, last ? [
        h('strong', {}, t('plant.machine.health_now', { health: number(ctx, last.health, 0) })), ' · ', rulText(ctx, last),
        ' · ', t('plant.machine.risk', { p: number(ctx, 100 * last.p_fail, 0), horizon: number(ctx, last.horizon, 2),
          unit: t(`plant.unit.${last.rul_unit === 'hours' ? 'hours' : 'cycles'}`) }),
        ' · ', h('span.muted', {}, formatTime(last.at))] : t('plant.machine.no_scores'));
      scoreBox.dataset.points = String(scores.length);
      drawn.push(charts.timeChart(scoreBox, {
        series: [{ label: t('plant.health'), color: '#1e8e3e' }, { label: t('plant.machine.risk_pct'), color: '#b3261e' }],
        data: [x, scores.map((s) => s.health), scores.map((s) => 100 * s.p_fail)],
      }));
      drawn.push(charts.timeChart(rulBox, {
        series: [{ label: t('plant.machine.rul'), color: '#1a73e8' }, { label: t('plant.machine.rul_low'), color: '#9bbcf0' },
          { label: t('plant.machine.rul_high'), color: '#9bbcf0' }],
        data: [x, scores.map((s) => s.rul), scores.map((s) => s.rul_low), scores.map((s) => s.rul_high)],
      }));
      replaceChildren(features, (last ? last.top_features : []).map((f) => h('li', {},
        h('code', {}, f.feature), ' ', t('plant.machine.deviation', { z: number(ctx, f.z, 1) }))));
      for (const s of SIGNALS) {
        const points = history.signals[s] || [];
        signalBoxes[s].dataset.points = String(points.length);
        drawn.push(charts.timeChart(signalBoxes[s], {
          series: [{ label: t(`plant.signal.${s}`), color: '#5f6b7a' }], height: 140,
          data: [points.map((p) => Date.parse(p.time) / 1000), points.map((p) => p.value)],
        }));
      }
    } catch (err) {
      if (stopped || (err instanceof ApiError && err.status === 401)) return;
      notice.hidden = false;
      notice.textContent = err instanceof ApiError && err.status === 404 ? t('plant.machine.unknown') : t('plant.load_failed');
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS * 2);
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    drawn.forEach((c) => c.destroy());
  };
}

export default async function render(root, ctx) {
  const machineId = ctx.params[0];
  return machineId ? machinePage(root, ctx, machineId) : overview(root, ctx);
}
