//! Monaco, the code editor, loaded from this server (`/vs/`, which Trunk copies from the npm
//! package) the first time a page asks for it, so pages without an editor never fetch it.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let loading = null;

function load() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/vs/loader.js';
      script.onload = () => {
        window.require.config({ paths: { vs: '/vs' } });
        window.require(['vs/editor/editor.main'], () => resolve(window.monaco), reject);
      };
      script.onerror = () => reject(new Error('the editor could not be loaded from /vs/loader.js'));
      document.head.appendChild(script);
    });
  }
  return loading;
}

export async function create_editor(element, value, on_change, on_submit, on_save) {
  const monaco = await load();
  const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
  const editor = monaco.editor.create(element, {
    value, language: 'yaml', theme: dark ? 'vs-dark' : 'vs', automaticLayout: true,
    minimap: { enabled: false }, scrollBeyondLastLine: false, tabSize: 2, fontSize: 13,
    renderWhitespace: 'boundary', fixedOverflowWidgets: true,
  });
  editor.onDidChangeModelContent(() => on_change(editor.getValue()));
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter, () => on_submit());
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => on_save());
  return editor;
}

export function set_text(editor, value) {
  if (editor.getValue() !== value) editor.setValue(value);
}

export function set_markers(editor, markers) {
  window.monaco.editor.setModelMarkers(editor.getModel(), 'myelin', markers);
}

export function reveal(editor, line, column) {
  editor.revealLineInCenter(line);
  editor.setPosition({ lineNumber: line, column });
  editor.focus();
}

export function dispose(editor) {
  editor.dispose();
}
"#)]
extern "C" {
    /// Loads Monaco if needed and makes a YAML editor in `element` holding `value`.
    #[wasm_bindgen(catch)]
    async fn create_editor(
        element: &web_sys::HtmlElement,
        value: &str,
        on_change: &Closure<dyn FnMut(String)>,
        on_submit: &Closure<dyn FnMut()>,
        on_save: &Closure<dyn FnMut()>,
    ) -> Result<JsValue, JsValue>;
    fn set_text(editor: &JsValue, value: &str);
    fn set_markers(editor: &JsValue, markers: JsValue);
    fn reveal(editor: &JsValue, line: u32, column: u32);
    fn dispose(editor: &JsValue);
}

/// A problem to underline in the editor.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub start_line_number: u32,
    pub start_column: u32,
    pub end_line_number: u32,
    pub end_column: u32,
    pub message: String,
    /// Monaco's severity: 8 error, 4 warning.
    pub severity: u8,
}

impl Marker {
    /// The marker of a compiler diagnostic, its hints in the hover.
    pub fn of(diagnostic: &shared::Diagnostic) -> Self {
        let mut message = diagnostic.message.clone();
        for hint in &diagnostic.hints {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        let line = diagnostic.line.max(1);
        let column = diagnostic.column.max(1);
        // A diagnostic without an end still marks a few characters, so it can be seen.
        let (end_line, end_column) = if diagnostic.end_line > line
            || (diagnostic.end_line == line && diagnostic.end_column > column)
        {
            (diagnostic.end_line, diagnostic.end_column)
        } else {
            (line, column + 1)
        };
        Self {
            start_line_number: line,
            start_column: column,
            end_line_number: end_line,
            end_column,
            message,
            severity: if diagnostic.is_error() { 8 } else { 4 },
        }
    }
}

/// The callbacks an editor calls: on each change, on Ctrl/Cmd+Enter, on Ctrl/Cmd+S.
struct Callbacks {
    _change: Closure<dyn FnMut(String)>,
    _submit: Closure<dyn FnMut()>,
    _save: Closure<dyn FnMut()>,
}

/// A Monaco editor and the callbacks it calls; dropping it disposes of the editor.
pub struct Editor {
    handle: JsValue,
    _callbacks: Callbacks,
}

impl Editor {
    /// Makes an editor in `element` holding `text`; `on_change` gets the text after each edit,
    /// `on_submit` is Ctrl/Cmd+Enter and `on_save` Ctrl/Cmd+S.
    pub async fn create(
        element: &web_sys::HtmlElement,
        text: &str,
        on_change: impl FnMut(String) + 'static,
        on_submit: impl FnMut() + 'static,
        on_save: impl FnMut() + 'static,
    ) -> Result<Self, String> {
        let change = Closure::new(on_change) as Closure<dyn FnMut(String)>;
        let submit = Closure::new(on_submit) as Closure<dyn FnMut()>;
        let save = Closure::new(on_save) as Closure<dyn FnMut()>;
        let handle = create_editor(element, text, &change, &submit, &save)
            .await
            .map_err(|error| {
                error
                    .as_string()
                    .or_else(|| js_sys::Error::from(error).message().as_string())
                    .unwrap_or_else(|| "the editor could not start".to_owned())
            })?;
        Ok(Self {
            handle,
            _callbacks: Callbacks {
                _change: change,
                _submit: submit,
                _save: save,
            },
        })
    }

    /// Replaces the text, unless it is the same.
    pub fn set_text(&self, text: &str) {
        set_text(&self.handle, text);
    }

    /// Underlines `markers`, replacing the previous ones.
    pub fn set_markers(&self, markers: &[Marker]) {
        let json = serde_json::to_string(markers).unwrap_or_else(|_| "[]".to_owned());
        let value = js_sys::JSON::parse(&json).unwrap_or_else(|_| js_sys::Array::new().into());
        set_markers(&self.handle, value);
    }

    /// Moves the cursor to a position and shows it.
    pub fn reveal(&self, line: u32, column: u32) {
        reveal(&self.handle, line.max(1), column.max(1));
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        dispose(&self.handle);
    }
}
