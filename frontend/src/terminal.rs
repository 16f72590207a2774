//! xterm.js, the terminal, loaded from this server (`/xterm/`, which Trunk copies from the npm
//! package) the first time a page opens one. It is loaded as an ES module, not by a script tag:
//! its UMD build would register with Monaco's AMD loader, when the editor came first, and never
//! reach `window`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let loading = null;

function load() {
  if (!loading) {
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = '/xterm/xterm.css';
    document.head.appendChild(style);
    loading = Promise.all([import('/xterm/xterm.mjs'), import('/xterm/addon-fit.mjs')]);
  }
  return loading;
}

export async function create_terminal(element, on_input, on_resize) {
  const [{ Terminal }, { FitAddon }] = await load();
  const styles = getComputedStyle(document.documentElement);
  const terminal = new Terminal({
    cursorBlink: true, fontSize: 13, scrollback: 5000,
    fontFamily: styles.getPropertyValue('--mono') || 'monospace',
    theme: { background: '#12141a', foreground: '#e6e8ee', cursor: '#8b93ff' },
  });
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.open(element);
  terminal.onData((data) => on_input(data));
  terminal.onResize(({ cols, rows }) => on_resize(cols, rows));
  fit.fit();
  // The panel changes size with the window: the terminal follows, and the shell is told.
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(element);
  terminal.myelinObserver = observer;
  on_resize(terminal.cols, terminal.rows);
  terminal.focus();
  return terminal;
}

export function write_bytes(terminal, bytes) {
  terminal.write(bytes);
}

export function write_text(terminal, text) {
  terminal.write(text);
}

export function dispose(terminal) {
  terminal.myelinObserver.disconnect();
  terminal.dispose();
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn create_terminal(
        element: &web_sys::HtmlElement,
        on_input: &Closure<dyn FnMut(String)>,
        on_resize: &Closure<dyn FnMut(u16, u16)>,
    ) -> Result<JsValue, JsValue>;
    fn write_bytes(terminal: &JsValue, bytes: &js_sys::Uint8Array);
    fn write_text(terminal: &JsValue, text: &str);
    fn dispose(terminal: &JsValue);
}

/// A terminal on the page; it is taken off when dropped.
pub struct Terminal {
    terminal: JsValue,
    _on_input: Closure<dyn FnMut(String)>,
    _on_resize: Closure<dyn FnMut(u16, u16)>,
}

impl Terminal {
    /// Loads xterm.js if needed and opens a terminal filling `element`: `on_input` gets what
    /// the user types (as the terminal encodes it: Ctrl-C is `\x03`), `on_resize` its size in
    /// columns and rows, now and on every change.
    pub async fn open(
        element: &web_sys::HtmlElement,
        on_input: impl FnMut(String) + 'static,
        on_resize: impl FnMut(u16, u16) + 'static,
    ) -> Result<Self, String> {
        let on_input = Closure::<dyn FnMut(String)>::new(on_input);
        let on_resize = Closure::<dyn FnMut(u16, u16)>::new(on_resize);
        let terminal = create_terminal(element, &on_input, &on_resize)
            .await
            .map_err(|error| {
                error
                    .as_string()
                    .or_else(|| {
                        js_sys::Reflect::get(&error, &"message".into())
                            .ok()?
                            .as_string()
                    })
                    .unwrap_or_else(|| "the terminal could not be loaded".to_owned())
            })?;
        Ok(Self {
            terminal,
            _on_input: on_input,
            _on_resize: on_resize,
        })
    }

    /// Shows what the command printed. The bytes are copied out of the WebAssembly memory:
    /// xterm.js parses writes later, when a view into that memory may hold something else.
    pub fn write(&self, bytes: &[u8]) {
        write_bytes(&self.terminal, &js_sys::Uint8Array::from(bytes));
    }

    /// Shows a line of Myelin's own (why the session ended, say), dimmed.
    pub fn note(&self, text: &str) {
        write_text(&self.terminal, &format!("\r\n\x1b[2m{text}\x1b[0m\r\n"));
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        dispose(&self.terminal);
    }
}
