// Command editor: syntax highlighting of the script as it is typed (highlight.js from static/vendor/).
// The textarea stays the real input (keyboard, selection, form submit); its text is made transparent and
// the highlighted copy is painted in the <pre> exactly behind it. The language follows the Type choice.
(function () {
  "use strict";
  var LANGUAGES = { RunShellScript: "bash", RunPowerShellScript: "powershell", RunBatScript: "dos" };
  var textarea = document.getElementById("content");
  var code = document.getElementById("content-highlight");
  var type = document.getElementById("type");
  if (!textarea || !code || !window.hljs) return; // no highlighter installed: a plain textarea
  var editor = textarea.closest(".code-editor");
  var pre = code.parentElement;
  var pending = false;

  function language() {
    return LANGUAGES[type ? type.value : "RunShellScript"] || "bash";
  }

  function paint() {
    pending = false;
    var lang = language();
    // A last empty line needs a character, or the <pre> ends one line shorter than the textarea.
    var text = textarea.value.endsWith("\n") ? textarea.value + " " : textarea.value;
    // highlight() escapes the text itself: the result holds only its own <span class="hljs-..."> tags.
    code.innerHTML = window.hljs.highlight(text, { language: lang, ignoreIllegals: true }).value;
    editor.dataset.language = lang;
    syncScroll();
  }

  function schedule() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(paint);
    }
  }

  function syncScroll() {
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  }

  editor.classList.add("highlighting");
  textarea.addEventListener("input", schedule);
  textarea.addEventListener("scroll", syncScroll);
  if (type) type.addEventListener("change", paint);
  paint();
})();
