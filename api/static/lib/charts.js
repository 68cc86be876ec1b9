// Charts (uPlot) and maps (Leaflet, loaded on demand) for pages: ctx.charts.
// timeChart() draws time series with the x axis in the browser's time zone and labels in the chosen language.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { currentLanguage, t } from './i18n.js';

export { uPlot };

/** The palette pages share, e.g. for alert severities. */
export const COLORS = {
  critical: '#b3261e', major: '#e8710a', minor: '#c9a100', warning: '#5f7d95',
  ok: '#1e8e3e', failed: '#b3261e', neutral: '#5f6b7a', accent: '#1a73e8',
};

const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

// uPlot asks for a formatter per axis template ("{h}:{mm}", "{M}/{D}", "{YYYY}", two lines joined by "\n").
function fmtDate(template) {
  const lines = template.split('\n').map((line) => {
    let options;
    if (line.includes('{h') || line.includes('{H')) options = { hour: '2-digit', minute: '2-digit' };
    else if (line.includes('{D}')) options = { month: 'short', day: 'numeric' };
    else if (line.includes('{M')) options = { year: 'numeric', month: 'short' };
    else if (line.includes('{YYYY}') || line.includes('{YY}')) options = { year: 'numeric' };
    else if (line.includes('{ss}') || line.includes(':{s')) options = { minute: '2-digit', second: '2-digit' };
    else options = { hour: '2-digit', minute: '2-digit' };
    return new Intl.DateTimeFormat(currentLanguage(), options);
  });
  return (date) => lines.map((f) => f.format(date)).join('\n');
}

/**
 * A time-series chart in ``el``.
 * series: [{label, color, fill?}], data: [[epoch seconds...], [values...], ...] (uPlot's column layout).
 * Returns {update(data), destroy()}; the chart follows its container's width.
 */
export function timeChart(el, { series, data, height = 180, bars = false, yLabel = '' }) {
  const width = () => Math.max(200, el.clientWidth || 300);
  const paths = bars && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
  const opts = {
    width: width(),
    height,
    fmtDate,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    // x labels are localized (wider than uPlot's defaults need); counts are whole numbers
    axes: [{ space: 90 }, { label: yLabel, size: 44, incrs: COUNT_STEPS }],
    series: [{ label: t('shell.chart.time') }, ...series.map((s) => ({
      label: s.label, stroke: s.color, width: 2, fill: s.fill || (bars ? s.color : undefined), paths, points: { show: !bars },
    }))],
  };
  const chart = new uPlot(opts, data, el);
  const resize = new ResizeObserver(() => chart.setSize({ width: width(), height }));
  resize.observe(el);
  return {
    chart,
    update(next) { chart.setData(next); },
    destroy() { resize.disconnect(); chart.destroy(); },
  };
}

/** Leaflet (ES module), loaded the first time a page asks for it: const L = await ctx.charts.leaflet(). */
export async function leaflet() {
  return import('../vendor/leaflet/leaflet-src.esm.js');
}
