// Server-Sent Events over fetch(): the API key goes in the Authorization header (EventSource cannot send
// headers, and a key in the URL would end up in logs and history). Parses the text/event-stream format,
// remembers the last event id and reconnects with "Last-Event-ID" so no change is missed.

import { apiUrl, authHeaders, refused } from './api.js';

/**
 * Open a stream. handlers: {onEvent({type, data, id}), onStatus('connecting'|'live'|'retrying'), onComment()}.
 * Returns {close()}. A 401 stops the stream and logs out; other failures retry after the server's
 * "retry:" delay (doubling up to 30 s while failing).
 */
export function openEventStream(path, query, handlers) {
  const controller = new AbortController();
  let lastEventId = null;
  let retryMs = 2000;
  let failures = 0;
  let closed = false;

  async function connect() {
    while (!closed) {
      handlers.onStatus?.('connecting');
      try {
        const headers = { Accept: 'text/event-stream', ...authHeaders() };
        if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
        const response = await fetch(apiUrl(path, query), { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401) {
          closed = true;
          refused();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        failures = 0;
        handlers.onStatus?.('live');
        await readEvents(response.body);
      } catch (err) {
        if (closed || controller.signal.aborted) return;
        failures += 1;
        console.warn('event stream interrupted', err);
      }
      if (closed) return;
      handlers.onStatus?.('retrying');
      const delay = Math.min(30000, retryMs * 2 ** Math.min(failures, 4)) * (0.75 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async function readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let event = { type: '', data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (event.id !== null) lastEventId = event.id;
          if (event.data.length) {
            handlers.onEvent({ type: event.type || 'message', data: event.data.join('\n'), id: lastEventId });
          }
          event = { type: '', data: [], id: null };
          continue;
        }
        if (line.startsWith(':')) {
          handlers.onComment?.(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'data') event.data.push(text);
        else if (field === 'event') event.type = text;
        else if (field === 'id' && !text.includes('\0')) event.id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) retryMs = Number(text);
      }
    }
  }

  connect();
  return {
    close() {
      closed = true;
      controller.abort();
    },
  };
}
