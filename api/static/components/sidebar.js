// The shell's sidebar, on every page: OPC-UA endpoint status (roles that may see the plant) and the live
// alert feed (roles that see alerts).

import { h } from '../lib/dom.js';
import { mountAlertFeed } from './alert-feed.js';
import { mountOpcuaStatus } from './opcua-status.js';

export function mountSidebar(sidebar, ctx) {
  const cleanups = [];
  if (['engineer', 'admin'].includes(ctx.role)) {
    const panel = h('section.panel#opcua-panel');
    sidebar.append(panel);
    cleanups.push(mountOpcuaStatus(panel, ctx));
  }
  if (ctx.alertDomains.length) {
    const panel = h('section.panel#alert-panel');
    sidebar.append(panel);
    cleanups.push(mountAlertFeed(panel, ctx));
  }
  if (!cleanups.length) sidebar.hidden = true;
  return () => cleanups.forEach((cleanup) => cleanup());
}
