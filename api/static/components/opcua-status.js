// OPC-UA endpoint status panel: one row per endpoint (state, since when, reconnect attempts, reason),
// refreshed every few seconds from GET /api/v1/opcua/endpoints.

import { ApiError } from '../lib/api.js';
import { h, replaceChildren } from '../lib/dom.js';

const REFRESH_MS = 5000;

export function mountOpcuaStatus(panel, { api, t, formatTime }) {
  const list = h('ul.endpoints#opcua-endpoints');
  const note = h('p.muted', {}, t('shell.opcua.loading'));
  replaceChildren(panel, h('h2', {}, t('shell.opcua.title')), note, list);
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const endpoints = await api('opcua/endpoints');
      if (stopped) return;
      note.textContent = endpoints.length ? '' : t('shell.opcua.none');
      note.hidden = endpoints.length > 0;
      replaceChildren(list, endpoints.map((e) => {
        const state = ['online', 'offline'].includes(e.state) ? e.state : 'unknown';
        return h('li.endpoint', { 'data-state': state, 'data-endpoint': e.endpoint },
          h('span.dot', { 'aria-hidden': 'true' }),
          h('span.name', { title: e.url || '' }, e.endpoint),
          h('span.state', {}, t(`shell.opcua.state.${state}`)),
          h('span.since.muted', {}, e.state === 'online'
            ? t('shell.opcua.since', { time: formatTime(e.since, 'short') })
            : t('shell.opcua.offline_since', { time: formatTime(e.offline_since || e.since, 'short') })),
          e.attempts ? h('span.attempts.muted', {}, t('shell.opcua.attempts', { n: e.attempts })) : null,
          e.reason ? h('span.reason', {}, e.reason) : null);
      }));
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.status === 403) {
        panel.hidden = true;
        return;
      }
      note.hidden = false;
      note.textContent = t('shell.opcua.failed');
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
