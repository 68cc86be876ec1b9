// The Dispatch page: a map with the trucks (live), the sites' geofences and the shipments' routes, and the
// shipment table; #/dispatch/<shipment_id> shows one shipment: its milestone timeline, its truck's track on
// the map and how its ETA moved against the promised window.
// The map needs no tiles: with no tile URL configured (logistics.tile_url) it draws fences, routes and trucks
// on a plain background.

import { h, replaceChildren } from '../lib/dom.js';
import { alertTitle } from '../lib/i18n.js';

const REFRESH_MS = 5000;
const STATUSES = ['planned', 'at_origin', 'departed', 'in_transit', 'arrived', 'delivered'];
const FENCE_STYLE = { color: '#1a73e8', weight: 1, fillOpacity: 0.12 };
const ROUTE_STYLE = { color: '#5f6b7a', weight: 2, opacity: 0.6, dashArray: '4 4' };

function lateness(minutes, t) {
  if (minutes === null || minutes === undefined) return h('span.muted', {}, '–');
  const late = minutes > 0;
  return h('span.lateness', { 'data-late': late ? (minutes > 30 ? 'very' : 'yes') : 'no' },
    late ? t('dispatch.late_by', { minutes: Math.round(minutes) }) : t('dispatch.on_time', { minutes: Math.round(-minutes) }));
}

function truckColor(shipment) {
  if (shipment.lateness_min > 30) return '#b3261e';
  if (shipment.lateness_min > 0) return '#e8710a';
  return shipment.status === 'delivered' ? '#5f6b7a' : '#1e8e3e';
}

async function baseMap(el, ctx) {
  const L = await ctx.charts.leaflet();
  const config = await ctx.api('logistics/map');
  const map = L.map(el, { zoomSnap: 0.25, attributionControl: Boolean(config.tile_url) });
  if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.attribution, maxZoom: 18 }).addTo(map);
  el.dataset.tiles = config.tile_url ? 'on' : 'off';
  return { L, map };
}

async function drawFencesAndRoutes(L, map, ctx, onlyShipment) {
  const [fences, shipments] = await Promise.all([
    ctx.api('masterdata/geofences'),
    onlyShipment ? ctx.api(`masterdata/shipments/${encodeURIComponent(onlyShipment)}`).then((s) => [s])
      : ctx.api('masterdata/shipments', { query: { limit: 1000 } }),
  ]);
  const layer = L.featureGroup().addTo(map);
  L.geoJSON(fences, {
    style: FENCE_STYLE,
    onEachFeature: (feature, lyr) => lyr.bindTooltip(`${feature.properties.name} (${feature.id})`),
  }).addTo(layer);
  for (const s of shipments) {
    const line = L.polyline(s.route.coordinates.map(([lon, lat]) => [lat, lon]), ROUTE_STYLE).addTo(layer);
    line.bindTooltip(ctx.t('dispatch.route_of', { shipment: s.id }));
  }
  return layer;
}

function table(shipments, ctx) {
  const { t, formatTime } = ctx;
  const rows = shipments.map((s) => h('tr', { 'data-shipment': s.shipment_id },
    h('td', {}, h('a', { href: `#/dispatch/${encodeURIComponent(s.shipment_id)}` }, s.shipment_id)),
    h('td', {}, s.truck_id),
    h('td', {}, `${s.origin_site_id} → ${s.destination_site_id}`),
    h('td', {}, h('span.status', { 'data-status': s.status }, t(`dispatch.status.${s.status}`))),
    h('td', {}, `${formatTime(s.promised_from, 'short')} – ${formatTime(s.promised_to, 'time')}`),
    h('td', {}, s.eta ? `${formatTime(s.eta, 'short')} (${formatTime(s.eta_low, 'time')}–${formatTime(s.eta_high, 'time')})` : '–'),
    h('td', {}, lateness(s.lateness_min, t)),
    h('td.muted', {}, s.last_position ? formatTime(s.last_position.at, 'short') : '–')));
  return h('table.grid#shipments', {},
    h('thead', {}, h('tr', {}, ['shipment', 'truck', 'route', 'status', 'window', 'eta', 'lateness', 'seen']
      .map((c) => h('th', {}, t(`dispatch.col.${c}`))))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8 }, t('dispatch.no_shipments')))));
}

async function overview(root, ctx) {
  const { t } = ctx;
  const mapEl = h('div.dispatch-map#dispatch-map', { role: 'img', 'aria-label': t('dispatch.map') });
  const tableEl = h('div#shipment-table');
  const updated = h('span.live#dispatch-live', { 'data-status': 'live' }, t('dispatch.live'));
  root.append(
    h('div.panel-head', {}, h('h1', {}, t('dispatch.title')), updated),
    h('section.panel', {}, mapEl),
    h('section.panel', {}, h('h2', {}, t('dispatch.shipments')), tableEl));
  const { L, map } = await baseMap(mapEl, ctx);
  const fences = await drawFencesAndRoutes(L, map, ctx, null);
  if (fences.getLayers().length) map.fitBounds(fences.getBounds(), { padding: [20, 20] });
  else map.setView([0, 0], 2);
  const trucks = L.layerGroup().addTo(map);
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const shipments = await ctx.api('shipments');
      if (stopped) return;
      const latest = new Map(); // the truck's newest position, with the shipment it is on
      for (const s of shipments) {
        if (!s.last_position) continue;
        const seen = latest.get(s.truck_id);
        const active = s.status !== 'planned' && s.status !== 'delivered';
        if (!seen || (active && !seen.active)) latest.set(s.truck_id, { ...s, active });
      }
      trucks.clearLayers();
      for (const s of latest.values()) {
        const { lat, lon } = s.last_position;
        L.circleMarker([lat, lon], { radius: 7, color: '#fff', weight: 2, fillColor: truckColor(s), fillOpacity: 1 })
          .bindTooltip(`${s.truck_id} · ${s.shipment_id} · ${t(`dispatch.status.${s.status}`)}`)
          .on('click', () => ctx.navigate('dispatch', s.shipment_id))
          .addTo(trucks);
      }
      mapEl.dataset.trucks = String(latest.size);
      replaceChildren(tableEl, table(shipments, ctx));
      updated.dataset.status = 'live';
      updated.textContent = t('dispatch.updated', { time: ctx.formatTime(new Date(), 'time') });
    } catch (err) {
      if (stopped) return;
      updated.dataset.status = 'retrying';
      updated.textContent = t('dispatch.retrying');
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  await refresh();
  return () => { stopped = true; clearTimeout(timer); map.remove(); };
}

function timeline(detail, ctx) {
  const { t, formatTime } = ctx;
  const reached = new Map(detail.milestones.map((m) => [m.milestone, m]));
  return h('ol.timeline#timeline', {}, STATUSES.slice(1).map((step) => {
    const m = reached.get(step);
    return h('li', { 'data-milestone': step, 'data-reached': m ? 'yes' : 'no' },
      h('span.step', {}, t(`dispatch.status.${step}`)),
      h('span.when', {}, m ? formatTime(m.at) : t('dispatch.pending')));
  }));
}

function etaChart(el, detail, ctx) {
  const { uPlot } = ctx.charts;
  const promised = Date.parse(detail.promised_to) / 1000;
  const xs = detail.etas.map((e) => Date.parse(e.computed_at) / 1000);
  const minutes = (key) => detail.etas.map((e) => (Date.parse(e[key]) / 1000 - promised) / 60);
  if (!xs.length) return el.append(h('p.muted', {}, ctx.t('dispatch.no_eta')));
  const color = (c) => ({ stroke: c, width: 2 });
  const chart = new uPlot({
    width: Math.max(300, el.clientWidth || 600), height: 200, scales: { x: { time: true } },
    axes: [{}, { label: ctx.t('dispatch.chart.minutes'), size: 50 }],
    series: [{ label: ctx.t('dispatch.chart.at') },
      { label: ctx.t('dispatch.chart.eta'), ...color('#1a73e8') },
      { label: ctx.t('dispatch.chart.low'), stroke: '#9ab8e6', dash: [4, 4] },
      { label: ctx.t('dispatch.chart.high'), stroke: '#9ab8e6', dash: [4, 4] },
      { label: ctx.t('dispatch.chart.window_end'), stroke: '#b3261e', width: 1 }],
  }, [xs, minutes('eta'), minutes('eta_low'), minutes('eta_high'), xs.map(() => 0)], el);
  return () => chart.destroy();
}

/** The logistics alerts about this shipment and its truck (delay, route deviation, offline, long dwell). */
async function shipmentAlerts(el, detail, ctx) {
  const { t, formatTime } = ctx;
  const lists = await Promise.all([detail.shipment_id, detail.truck_id].map((id) =>
    ctx.api('alerts', { query: { domain: 'logistics', subject_id: id, limit: 50 } }).catch(() => [])));
  const alerts = lists.flat().sort((a, b) => (a.opened_at < b.opened_at ? 1 : -1));
  replaceChildren(el, alerts.length ? alerts.map((a) => h('li.alert', { 'data-severity': a.severity, 'data-type': a.alert_type },
    h('span.sev', { 'data-severity': a.severity }, t(`shell.severity.${a.severity}`)), ' ',
    h('span.title', {}, alertTitle(a)), ' ',
    h('span.muted', {}, `${formatTime(a.opened_at, 'short')} · ${t(`dispatch.alert_state.${a.state}`)}`)))
    : h('li.muted', {}, t('dispatch.no_alerts')));
}

async function shipmentPage(root, ctx, shipmentId) {
  const { t, formatTime } = ctx;
  let detail;
  try {
    detail = await ctx.api(`shipments/${encodeURIComponent(shipmentId)}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    root.append(h('h1', {}, t('dispatch.title')), h('p.error', { role: 'alert' }, t('dispatch.unknown', { shipment: shipmentId })));
    return undefined;
  }
  const mapEl = h('div.dispatch-map#shipment-map', { role: 'img', 'aria-label': t('dispatch.track_map') });
  const chartEl = h('div#eta-chart');
  const alertsEl = h('ul.alerts#shipment-alerts', {}, h('li.muted', {}, t('shell.loading')));
  root.append(
    h('p', {}, h('a', { href: '#/dispatch' }, t('dispatch.back'))),
    h('h1', {}, t('dispatch.shipment', { shipment: detail.shipment_id })),
    h('section.panel.facts', {},
      h('p', {}, t('dispatch.fact.truck', { truck: detail.truck_id }), ' · ',
        `${detail.origin_site_id} → ${detail.destination_site_id}`, ' · ',
        h('span.status', { 'data-status': detail.status }, t(`dispatch.status.${detail.status}`))),
      h('p', {}, t('dispatch.fact.window', { from: formatTime(detail.promised_from), to: formatTime(detail.promised_to) })),
      h('p', {}, detail.eta ? t('dispatch.fact.eta', { eta: formatTime(detail.eta), low: formatTime(detail.eta_low, 'time'),
        high: formatTime(detail.eta_high, 'time') }) : t('dispatch.no_eta'), ' ', lateness(detail.lateness_min, t))),
    h('section.panel', {}, h('h2', {}, t('dispatch.timeline')), timeline(detail, ctx)),
    h('section.panel', {}, h('h2', {}, t('dispatch.alerts')), alertsEl),
    h('section.panel', {}, h('h2', {}, t('dispatch.track')), mapEl),
    h('section.panel', {}, h('h2', {}, t('dispatch.eta_history')), chartEl));
  const { L, map } = await baseMap(mapEl, ctx);
  const layer = await drawFencesAndRoutes(L, map, ctx, detail.shipment_id);
  const first = detail.milestones.length ? detail.milestones[0].at : null;
  const track = await ctx.api(`trucks/${encodeURIComponent(detail.truck_id)}/track`, {
    query: { since: first || detail.promised_from, limit: 20000 } });
  const line = track.map((p) => [p.lat, p.lon]);
  if (line.length) {
    L.polyline(line, { color: '#1a73e8', weight: 3 }).addTo(layer);
    L.circleMarker(line[line.length - 1], { radius: 7, color: '#fff', weight: 2, fillColor: '#1e8e3e', fillOpacity: 1 })
      .bindTooltip(detail.truck_id).addTo(layer);
  }
  mapEl.dataset.trackPoints = String(line.length);
  map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  const destroyChart = etaChart(chartEl, detail, ctx);
  await shipmentAlerts(alertsEl, detail, ctx);
  return () => { map.remove(); if (typeof destroyChart === 'function') destroyChart(); };
}

export default async function render(root, ctx) {
  return ctx.params.length ? shipmentPage(root, ctx, ctx.params[0]) : overview(root, ctx);
}
