// The live alert feed: alerts of the caller's domains over Server-Sent Events (GET /api/v1/alerts/stream),
// filtered by domain and severity, with acknowledge and clear; above it a chart of alerts opened per hour by
// severity (GET /api/v1/alerts/counts), refreshed when alerts arrive.

import { ApiError } from '../lib/api.js';
import { COLORS, timeChart } from '../lib/charts.js';
import { h, replaceChildren } from '../lib/dom.js';
import { alertTitle } from '../lib/i18n.js';
import { openEventStream } from '../lib/sse.js';

export const SEVERITIES = ['critical', 'major', 'minor', 'warning'];
const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));
const CHART_REFRESH_MS = 5000;

export function mountAlertFeed(panel, ctx) {
  const { api, t, formatTime, alertDomains } = ctx;
  const alerts = new Map(); // id -> alert (open and acknowledged ones)
  const filters = { domain: '', severity: '' };
  let stream = null;
  let chart = null;
  let chartTimer = null;
  let stopped = false;

  const status = h('span.live#alert-live', { 'data-status': 'connecting' }, t('shell.alerts.connecting'));
  const domainSelect = h('select#alert-domain', { 'aria-label': t('shell.alerts.domain') },
    h('option', { value: '' }, t('shell.alerts.all_domains')),
    alertDomains.map((d) => h('option', { value: d }, t(`shell.domain.${d}`))));
  const severitySelect = h('select#alert-severity', { 'aria-label': t('shell.alerts.severity') },
    h('option', { value: '' }, t('shell.alerts.all_severities')),
    SEVERITIES.map((s) => h('option', { value: s }, t(`shell.severity.${s}`))));
  const chartBox = h('div.chart#alert-chart', { role: 'img', 'aria-label': t('shell.alerts.chart') });
  const list = h('ul.alerts#alert-list');
  const empty = h('p.muted#alert-empty', {}, t('shell.alerts.none'));
  const message = h('p.error#alert-error', { role: 'alert', hidden: true });
  replaceChildren(panel,
    h('div.panel-head', {}, h('h2', {}, t('shell.alerts.title')), status),
    h('div.filters', {}, domainSelect, severitySelect),
    h('h3', {}, t('shell.alerts.chart')), chartBox,
    message, empty, list);

  function query() {
    return { domain: filters.domain || undefined, severity: filters.severity || undefined };
  }

  function matches(alert) {
    return (!filters.domain || alert.domain === filters.domain) && (!filters.severity || alert.severity === filters.severity);
  }

  function apply(alert) {
    if (alert.state === 'cleared' || !matches(alert)) alerts.delete(alert.id);
    else alerts.set(alert.id, alert);
  }

  async function act(alert, action, button) {
    button.disabled = true;
    message.hidden = true;
    try {
      apply(await api(`alerts/${encodeURIComponent(alert.id)}/${action}`, { method: 'POST' }));
      draw();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      message.hidden = false;
      message.textContent = err instanceof ApiError && err.status === 409
        ? t('shell.alerts.conflict') : t('shell.alerts.action_failed');
      button.disabled = false;
    }
  }

  function item(alert) {
    const ack = h('button.ack', { type: 'button', onclick: (e) => act(alert, 'ack', e.currentTarget) }, t('shell.alerts.ack'));
    const clear = h('button.clear', { type: 'button', onclick: (e) => act(alert, 'clear', e.currentTarget) }, t('shell.alerts.clear'));
    return h('li.alert', { 'data-id': alert.id, 'data-state': alert.state, 'data-severity': alert.severity },
      h('div.alert-line', {},
        h('span.sev', { 'data-severity': alert.severity }, t(`shell.severity.${alert.severity}`)),
        h('span.title', {}, alertTitle(alert))),
      h('div.alert-meta.muted', {},
        h('span', {}, `${t(`shell.domain.${alert.domain}`)} · ${t(`shell.subject.${alert.subject_kind}`)} ${alert.subject_id}`),
        h('time', { datetime: alert.opened_at }, formatTime(alert.opened_at, 'short')),
        h('span.state', {}, t(`shell.alerts.state.${alert.state}`)),
        alert.trigger_count > 1 ? h('span', {}, t('shell.alerts.triggers', { n: alert.trigger_count })) : null),
      h('div.alert-actions', {}, alert.state === 'open' ? ack : null, clear));
  }

  function draw() {
    const sorted = [...alerts.values()].sort((a, b) =>
      (a.state === 'open' ? 0 : 1) - (b.state === 'open' ? 0 : 1)
      || RANK[a.severity] - RANK[b.severity]
      || b.opened_at.localeCompare(a.opened_at));
    replaceChildren(list, sorted.map(item));
    empty.hidden = sorted.length > 0;
  }

  async function refreshChart() {
    chartTimer = null;
    try {
      const counts = await api('alerts/counts', { query: { bucket: 'hour', buckets: 24, domain: filters.domain || undefined } });
      if (stopped) return;
      const data = [counts.buckets.map((b) => Date.parse(b.start) / 1000),
        ...SEVERITIES.map((s) => counts.buckets.map((b) => b.counts[s] || 0))];
      if (!chart) {
        chart = timeChart(chartBox, {
          bars: false, height: 150,
          series: SEVERITIES.map((s) => ({ label: t(`shell.severity.${s}`), color: COLORS[s] })),
          data,
        });
      } else chart.update(data);
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(err);
    }
  }

  function scheduleChart() {
    if (!chartTimer && !stopped) chartTimer = setTimeout(refreshChart, CHART_REFRESH_MS);
  }

  function connect() {
    stream?.close();
    alerts.clear();
    draw();
    stream = openEventStream('alerts/stream', query(), {
      onStatus(state) {
        status.dataset.status = state;
        status.textContent = t(`shell.alerts.${state}`);
      },
      onEvent(event) {
        const data = JSON.parse(event.data);
        if (event.type === 'snapshot') {
          alerts.clear();
          data.alerts.forEach(apply);
        } else if (event.type === 'alert') {
          apply(data);
          scheduleChart();
        }
        draw();
      },
    });
  }

  for (const [select, name] of [[domainSelect, 'domain'], [severitySelect, 'severity']]) {
    select.addEventListener('change', () => {
      filters[name] = select.value;
      connect();
      if (name === 'domain') refreshChart();
    });
  }
  connect();
  refreshChart();
  return () => {
    stopped = true;
    stream?.close();
    clearTimeout(chartTimer);
    chart?.destroy();
  };
}
