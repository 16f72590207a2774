//! A metric chart: uPlot (from npm, served at `/uplot/`, imported as an ES module the first
//! time a chart shows), made for series of many points. It draws the lines and bands a
//! [`ChartSpec`] lists, shows every line's value where the pointer is, toggles a line from its
//! legend entry, zooms on a dragged range (the page is told, to fetch detail for it) and goes
//! back to the whole range on a double click. Lines cross into JavaScript as typed arrays,
//! copied rather than written out as JSON and parsed again.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use frontend::compare_view::{ChartLine, ChartSpec};
use js_sys::{Array, Float64Array, Object, Reflect};
use shared::api::XRange;

#[wasm_bindgen(inline_js = r#"
let loading = null;

function load() {
  if (!loading) {
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = '/uplot/uPlot.min.css';
    document.head.appendChild(style);
    loading = import('/uplot/uPlot.esm.js').then((module) => module.default);
  }
  return loading;
}

// Past this many lines, and without bands, a chart gives each line its own x (uPlot's mode 2)
// rather than joining every line on the union of their x: a thousand runs' downsampled points
// rarely share an x, and the joined table would be a thousand times their union, mostly gaps.
// Only a joined chart has a legend and bands, which past this many lines it hides anyway.
const FACETED_PAST = 40;

function faceted(spec) {
  return spec.lines.length > FACETED_PAST && spec.lines.every((line) => !line.band);
}

// Lines and bands as uPlot's aligned columns: every line's points (and its band's low and
// high) joined on the union of their x values, a missing point being a gap the line spans.
// Faceted, each line keeps its own x and y.
function columns(uPlot, spec) {
  if (faceted(spec)) {
    const linear = uPlot.paths.linear();
    const series = [{}];
    const data = [null];
    spec.lines.forEach((line) => {
      data.push([line.x, line.y]);
      // Hairlines: a thousand lines of 1.5 px take the rasterizer several times as long, and
      // at that density a line is no easier to follow for being wider.
      series.push({
        label: line.label, stroke: line.color, width: 1 / devicePixelRatio, paths: linear, points: { show: false },
        facets: [{ scale: 'x', auto: true, sorted: 1 }, { scale: 'y', auto: true }],
      });
    });
    return { data, series, bands: [], mode: 2 };
  }
  const tables = [];
  const series = [{}];
  const bands = [];
  spec.lines.forEach((line) => {
    tables.push([line.x, line.y]);
    series.push({ label: line.label, stroke: line.color, width: 1.5, spanGaps: true, points: { show: false } });
    if (line.band) {
      const high = series.length;
      tables.push([line.band.x, line.band.high]);
      series.push({ label: line.label + ' (high)', stroke: 'transparent', spanGaps: true, points: { show: false }, band: true });
      tables.push([line.band.x, line.band.low]);
      series.push({ label: line.label + ' (low)', stroke: 'transparent', spanGaps: true, points: { show: false }, band: true });
      bands.push({ series: [high, high + 1], fill: line.color.replace('hsl', 'hsla').replace(')', ', 0.15)') });
    }
  });
  const data = tables.length ? uPlot.join(tables) : [[]];
  return { data, series, bands, mode: 1 };
}

function options(spec, width, { series, bands, mode }, on_zoom, on_reset) {
  const time = spec.axis === 'time';
  return {
    width, height: 260, ms: 1e-3, mode,
    series, bands,
    scales: { x: { time }, y: { distr: spec.log ? 3 : 1 } },
    axes: [
      { label: spec.axis === 'relative' ? 'seconds' : (time ? '' : 'step') },
      { label: spec.title, size: 60 },
    ],
    // A faceted chart has no hover values to mark, and a marker per line is a thousand
    // elements on the page.
    cursor: { drag: { x: true, y: false }, sync: { key: 'myelin-metrics' }, points: { show: mode === 1 } },
    // A legend row per line is how every run's value shows under the pointer; past a few
    // dozen lines it would bury the chart, and the page's table says who is who.
    legend: { show: mode === 1 && spec.lines.length <= FACETED_PAST, live: true },
    hooks: {
      setSelect: [(chart) => {
        if (chart.select.width > 2) {
          const from = chart.posToVal(chart.select.left, 'x');
          const to = chart.posToVal(chart.select.left + chart.select.width, 'x');
          on_zoom(from, to);
        }
      }],
      ready: [(chart) => {
        chart.over.addEventListener('dblclick', () => on_reset());
        hideBands(chart);
      }],
    },
  };
}

// A band's two edges are series of their own; their legend entries would only repeat the line.
function hideBands(chart) {
  const rows = chart.root.querySelectorAll('.u-legend .u-series');
  chart.series.forEach((series, index) => {
    if (series.band && rows[index]) rows[index].style.display = 'none';
  });
}

// A chart of `spec` filling `element`'s width, following it when the page resizes.
function make(uPlot, element, spec, on_zoom, on_reset) {
  const drawn = columns(uPlot, spec);
  const width = Math.max(element.clientWidth, 320);
  const chart = new uPlot(options(spec, width, drawn, on_zoom, on_reset), drawn.data, element);
  chart.myelinObserver = new ResizeObserver(() => {
    const now = Math.max(element.clientWidth, 320);
    if (now !== chart.width) chart.setSize({ width: now, height: 260 });
  });
  chart.myelinObserver.observe(element);
  chart.myelinUplot = uPlot;
  // How many lines are drawn, for whoever waits for the chart (tests, benches).
  element.dataset.lines = String(spec.lines.length);
  return chart;
}

export async function create_chart(element, spec, on_zoom, on_reset) {
  const uPlot = await load();
  return make(uPlot, element, spec, on_zoom, on_reset);
}

// New data for the same lines keeps the zoom (detail for the range shown); other lines make
// the chart again.
export function update_chart(chart, element, spec, keep_range, on_zoom, on_reset) {
  const uPlot = chart.myelinUplot;
  const { data, series, mode } = columns(uPlot, spec);
  const same = mode === chart.mode
    && series.length === chart.series.length
    && series.every((line, index) => index === 0 || line.label === chart.series[index].label)
    && spec.log === (chart.scales.y.distr === 3)
    && (spec.axis === 'time') === chart.scales.x.time;
  if (same) {
    element.dataset.lines = String(spec.lines.length);
    chart.setData(data, !keep_range);
    return chart;
  }
  dispose(chart);
  return make(uPlot, element, spec, on_zoom, on_reset);
}

export function dispose(chart) {
  chart.myelinObserver.disconnect();
  chart.destroy();
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn create_chart(
        element: &web_sys::HtmlElement,
        spec: &JsValue,
        on_zoom: &Closure<dyn FnMut(f64, f64)>,
        on_reset: &Closure<dyn FnMut()>,
    ) -> Result<JsValue, JsValue>;
    fn update_chart(
        chart: &JsValue,
        element: &web_sys::HtmlElement,
        spec: &JsValue,
        keep_range: bool,
        on_zoom: &Closure<dyn FnMut(f64, f64)>,
        on_reset: &Closure<dyn FnMut()>,
    ) -> JsValue;
    fn dispose(chart: &JsValue);
}

/// What a chart holds on to: uPlot's object and the callbacks it calls.
struct Drawn {
    chart: JsValue,
    on_zoom: Closure<dyn FnMut(f64, f64)>,
    on_reset: Closure<dyn FnMut()>,
}

/// A chart of `spec`, drawn again when it changes. A dragged range is handed to `on_zoom`
/// (the page fetches detail for it and passes a new spec, drawn in the same range); a double
/// click hands `None`, for the whole range.
#[component]
pub fn MetricChart(
    spec: Signal<ChartSpec>,
    on_zoom: Callback<Option<XRange>>,
    /// The spec is detail for the range the user chose: the chart stays in it.
    #[prop(into)]
    zoomed: Signal<bool>,
) -> impl IntoView {
    let host = NodeRef::<leptos::html::Div>::new();
    let drawn = StoredValue::new_local(None::<Drawn>);
    let creating = StoredValue::new(false);
    // Counts the specs drawn, so a chart made while a newer spec came is drawn again.
    let generation = StoredValue::new(0_u64);
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let js = spec.with(to_js);
        let keep = zoomed.get();
        generation.update_value(|generation| *generation += 1);
        let Some(element) = host.get() else {
            return;
        };
        let element: web_sys::HtmlElement = element.into();
        let updated = drawn.with_value(|drawn| {
            drawn.as_ref().map(|drawn| {
                update_chart(
                    &drawn.chart,
                    &element,
                    &js,
                    keep,
                    &drawn.on_zoom,
                    &drawn.on_reset,
                )
            })
        });
        if let Some(chart) = updated {
            drawn.update_value(|drawn| {
                if let Some(drawn) = drawn {
                    drawn.chart = chart;
                }
            });
            return;
        }
        if creating.get_value() {
            return;
        }
        creating.set_value(true);
        let on_zoom_js = Closure::<dyn FnMut(f64, f64)>::new(move |from: f64, to: f64| {
            on_zoom.run(Some(XRange { from, to }));
        });
        let on_reset_js = Closure::<dyn FnMut()>::new(move || on_zoom.run(None));
        let drawing = generation.get_value();
        leptos::task::spawn_local(async move {
            let made = create_chart(&element, &js, &on_zoom_js, &on_reset_js).await;
            creating.set_value(false);
            match made {
                Ok(chart) => {
                    // The spec may have changed while uPlot loaded.
                    let chart = if generation.get_value() == drawing {
                        chart
                    } else {
                        let now = spec.with_untracked(to_js);
                        update_chart(&chart, &element, &now, false, &on_zoom_js, &on_reset_js)
                    };
                    drawn.set_value(Some(Drawn {
                        chart,
                        on_zoom: on_zoom_js,
                        on_reset: on_reset_js,
                    }));
                }
                Err(error) => problem.set(Some(format!(
                    "the chart cannot be drawn: {}",
                    error.as_string().unwrap_or_else(|| format!("{error:?}"))
                ))),
            }
        });
    });
    on_cleanup(move || {
        if let Some(Some(drawn)) = drawn.try_update_value(Option::take) {
            dispose(&drawn.chart);
        }
    });
    view! {
        <div class="metric-chart" node_ref=host></div>
        {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
    }
}

/// `spec` as the object the chart's JavaScript reads: its fields by name, numbers as
/// `Float64Array`s.
fn to_js(spec: &ChartSpec) -> JsValue {
    let lines: Array = spec.lines.iter().map(line_to_js).collect();
    object(&[
        ("title", JsValue::from_str(&spec.title)),
        ("axis", JsValue::from_str(spec.axis)),
        ("log", JsValue::from_bool(spec.log)),
        ("lines", lines.into()),
    ])
}

fn line_to_js(line: &ChartLine) -> JsValue {
    let numbers = |values: &[f64]| JsValue::from(Float64Array::from(values));
    let band = line.band.as_ref().map_or(JsValue::NULL, |band| {
        object(&[
            ("x", numbers(&band.x)),
            ("low", numbers(&band.low)),
            ("high", numbers(&band.high)),
        ])
    });
    object(&[
        ("label", JsValue::from_str(&line.label)),
        ("color", JsValue::from_str(&line.color)),
        ("x", numbers(&line.x)),
        ("y", numbers(&line.y)),
        ("band", band),
    ])
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a field of a plain object just made cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}
