// Integrations: webhook endpoints (the ERP's subscriptions), delivery outcomes over time (chart), the
// delivery log with its failures and attempts, and replay (one delivery, or every dead one of a period).

import { ApiError } from '../lib/api.js';
import { h, replaceChildren } from '../lib/dom.js';

const REFRESH_MS = 10000;
const STATUSES = ['pending', 'delivered', 'dead'];

export default async function render(root, ctx) {
  const { api, t, formatTime, charts } = ctx;
  const filters = { status: '', endpoint_id: '' };
  let chart = null;
  let timer = null;
  let stopped = false;

  const notice = h('p.notice#integrations-notice', { role: 'status', hidden: true });
  const endpointsBody = h('tbody#endpoint-rows');
  const chartBox = h('div.chart#delivery-chart', { role: 'img', 'aria-label': t('integrations.chart.title') });
  const chartEmpty = h('p.muted', { hidden: true }, t('integrations.chart.empty'));
  const statusSelect = h('select#delivery-status', { 'aria-label': t('integrations.deliveries.status') },
    h('option', { value: '' }, t('integrations.deliveries.all')),
    STATUSES.map((s) => h('option', { value: s }, t(`integrations.status.${s}`))));
  const endpointSelect = h('select#delivery-endpoint', { 'aria-label': t('integrations.deliveries.endpoint') },
    h('option', { value: '' }, t('integrations.deliveries.all_endpoints')));
  const deliveriesBody = h('tbody#delivery-rows');
  const detail = h('section.panel#delivery-detail', { hidden: true });
  const replayDead = h('button#replay-dead', { type: 'button', onclick: () => replayDeadDay() }, t('integrations.replay.dead_day'));

  root.append(
    h('h1', {}, t('integrations.title')),
    notice,
    h('section.panel', {},
      h('h2', {}, t('integrations.chart.title')),
      h('p.muted', {}, t('integrations.chart.hint')),
      chartBox, chartEmpty),
    h('section.panel', {},
      h('h2', {}, t('integrations.endpoints.title')),
      h('table.grid', {},
        h('thead', {}, h('tr', {}, ['id', 'url', 'events', 'state', 'secrets', 'updated', 'actions'].map((c) =>
          h('th', {}, t(`integrations.endpoints.${c}`))))),
        endpointsBody)),
    h('section.panel', {},
      h('div.panel-head', {}, h('h2', {}, t('integrations.deliveries.title')), replayDead),
      h('div.filters', {}, statusSelect, endpointSelect),
      h('table.grid', {},
        h('thead', {}, h('tr', {}, ['created', 'endpoint', 'event', 'status', 'attempts', 'last', 'actions'].map((c) =>
          h('th', {}, t(`integrations.deliveries.${c}`))))),
        deliveriesBody)),
    detail);

  function say(text, isError = false) {
    notice.hidden = false;
    notice.textContent = text;
    notice.classList.toggle('error', isError);
  }

  function failed(err) {
    if (err instanceof ApiError && err.status === 401) return;
    say(t('integrations.load_failed'), true);
  }

  async function replay(body, button) {
    if (button) button.disabled = true;
    try {
      const answer = await api('webhooks/replay', { method: 'POST', body });
      say(t('integrations.replay.queued', { n: answer.queued }));
      await refresh();
    } catch (err) {
      failed(err);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function replayDeadDay() {
    const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    return replay({ since, endpoint_id: filters.endpoint_id || undefined }, replayDead);
  }

  async function showDetail(delivery) {
    try {
      const full = await api(`webhooks/deliveries/${delivery.id}`);
      replaceChildren(detail,
        h('div.panel-head', {}, h('h2', {}, t('integrations.detail.title', { id: full.id })),
          h('button', { type: 'button', onclick: () => { detail.hidden = true; } }, t('integrations.detail.close'))),
        h('p.muted', {}, `${full.event_type} · ${full.record_key} · ${full.event_id}`),
        h('table.grid', {},
          h('thead', {}, h('tr', {}, ['attempt', 'at', 'code', 'latency', 'error'].map((c) =>
            h('th', {}, t(`integrations.detail.${c}`))))),
          h('tbody', {}, full.attempt_log.map((a) => h('tr', { class: a.error ? 'failed' : '' },
            h('td', {}, a.attempt), h('td', {}, formatTime(a.attempted_at)),
            h('td', {}, a.status_code ?? '—'), h('td', {}, t('integrations.detail.ms', { ms: Math.round(a.latency_ms) })),
            h('td', {}, a.error || a.response_excerpt))))));
      detail.hidden = false;
    } catch (err) {
      failed(err);
    }
  }

  function drawEndpoints(endpoints) {
    const chosen = endpointSelect.value;
    replaceChildren(endpointSelect, h('option', { value: '' }, t('integrations.deliveries.all_endpoints')),
      endpoints.map((e) => h('option', { value: e.id, selected: e.id === chosen }, e.id)));
    if (!endpoints.length) {
      replaceChildren(endpointsBody, h('tr', {}, h('td.muted', { colspan: 7 }, t('integrations.endpoints.none'))));
      return;
    }
    replaceChildren(endpointsBody, endpoints.map((e) => h('tr', { 'data-endpoint': e.id, class: e.enabled ? '' : 'failed' },
      h('td', {}, e.id), h('td.url', {}, e.url),
      h('td', {}, e.event_types.length ? e.event_types.join(', ') : t('integrations.endpoints.all_events')),
      h('td', {}, e.enabled ? t('integrations.endpoints.enabled')
        : t('integrations.endpoints.disabled', { reason: e.disabled_reason || '—' })),
      h('td', {}, e.secret_count), h('td', {}, formatTime(e.updated_at, 'short')),
      h('td', {}, h('button.toggle', { type: 'button', onclick: (event) => setEnabled(e, !e.enabled, event.currentTarget) },
        t(e.enabled ? 'integrations.endpoints.disable' : 'integrations.endpoints.enable'))))));
  }

  async function setEnabled(endpoint, enabled, button) {
    button.disabled = true;
    try {
      await api(`webhooks/endpoints/${encodeURIComponent(endpoint.id)}`, { method: 'PATCH', body: { enabled } });
      say(t(enabled ? 'integrations.endpoints.enabled_now' : 'integrations.endpoints.disabled_now', { id: endpoint.id }));
      await refresh();
    } catch (err) {
      failed(err);
      button.disabled = false;
    }
  }

  function drawDeliveries(deliveries) {
    if (!deliveries.length) {
      replaceChildren(deliveriesBody, h('tr', {}, h('td.muted', { colspan: 7 }, t('integrations.deliveries.none'))));
      return;
    }
    replaceChildren(deliveriesBody, deliveries.map((d) => h('tr', { 'data-delivery': d.id, 'data-status': d.status, class: d.status === 'dead' || d.last_error ? 'failed' : '' },
      h('td', {}, formatTime(d.created_at, 'short')), h('td', {}, d.endpoint_id),
      h('td', {}, h('a', { href: '#/integrations', onclick: (e) => { e.preventDefault(); showDetail(d); } }, `${d.event_type} ${d.record_key}`)),
      h('td', {}, t(`integrations.status.${d.status}`)), h('td', {}, d.attempts),
      h('td', {}, d.last_error ? `${d.last_status_code ?? ''} ${d.last_error}`.trim() : (d.last_status_code ?? '')),
      h('td', {}, d.status === 'pending' ? null : h('button.replay', {
        type: 'button', onclick: (e) => replay({ event_id: d.event_id, endpoint_id: d.endpoint_id }, e.currentTarget),
      }, t('integrations.replay.one'))))));
  }

  function drawChart(counts) {
    const buckets = counts.buckets;
    chartEmpty.hidden = buckets.length > 0;
    const data = [buckets.map((b) => Date.parse(b.start) / 1000), buckets.map((b) => b.succeeded), buckets.map((b) => b.failed)];
    if (!chart) {
      chart = charts.timeChart(chartBox, {
        height: 200, bars: true,
        series: [
          { label: t('integrations.chart.succeeded'), color: charts.COLORS.ok },
          { label: t('integrations.chart.failed'), color: charts.COLORS.failed },
        ],
        data,
      });
    } else chart.update(data);
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const query = { status: filters.status || undefined, endpoint_id: filters.endpoint_id || undefined, limit: 100 };
      const [endpoints, deliveries, counts] = await Promise.all([
        api('webhooks/endpoints', { query: { limit: 1000 } }),
        api('webhooks/deliveries', { query }),
        api('webhooks/attempts/counts', { query: { bucket: 'hour', buckets: 48, endpoint_id: filters.endpoint_id || undefined } }),
      ]);
      if (stopped) return;
      drawEndpoints(endpoints);
      drawDeliveries(deliveries);
      drawChart(counts);
    } catch (err) {
      if (!stopped) failed(err);
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  statusSelect.addEventListener('change', () => { filters.status = statusSelect.value; refresh(); });
  endpointSelect.addEventListener('change', () => { filters.endpoint_id = endpointSelect.value; refresh(); });
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    chart?.destroy();
  };
}
