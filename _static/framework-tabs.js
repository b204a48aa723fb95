// Framework tabs for recbook: code cells tagged `pytorch` / `tensorflow` (MyST-NB writes the tags
// as CSS classes `tag_pytorch` / `tag_tensorflow` on the cell's div, outputs inside it) are
// grouped into "PyTorch | TensorFlow" tabs. Consecutive tagged cells form one group; untagged
// cells render plainly. Every tab bar drives ONE global choice, kept across pages in localStorage.
(function () {
  "use strict";
  var FRAMEWORKS = [["pytorch", "PyTorch"], ["tensorflow", "TensorFlow"]];
  var STORAGE_KEY = "recbook-framework";

  function frameworkOf(el) {
    if (!el || !el.classList || !el.classList.contains("cell")) return null;
    for (var i = 0; i < FRAMEWORKS.length; i++) {
      if (el.classList.contains("tag_" + FRAMEWORKS[i][0])) return FRAMEWORKS[i][0];
    }
    return null;
  }

  function stored() {
    try { return window.localStorage.getItem(STORAGE_KEY); } catch (e) { return null; }
  }

  function store(value) {
    try { window.localStorage.setItem(STORAGE_KEY, value); } catch (e) { /* private mode */ }
  }

  function nextElement(el) {
    var n = el.nextSibling;
    while (n && n.nodeType !== 1) n = n.nextSibling;
    return n;
  }

  // Collect runs of consecutive framework cells that share a parent.
  function groups() {
    var seen = new Set(), out = [];
    document.querySelectorAll(".cell.tag_pytorch, .cell.tag_tensorflow").forEach(function (cell) {
      if (seen.has(cell)) return;
      var run = [cell], n = nextElement(cell);
      seen.add(cell);
      while (frameworkOf(n)) { run.push(n); seen.add(n); n = nextElement(n); }
      out.push(run);
    });
    return out;
  }

  function apply(choice) {
    document.querySelectorAll(".recbook-tabs").forEach(function (group) {
      var present = group.getAttribute("data-frameworks").split(" ");
      // A group without the chosen framework shows what it has rather than nothing.
      var shown = present.indexOf(choice) >= 0 ? choice : present[0];
      group.querySelectorAll(".recbook-tab-button").forEach(function (b) {
        var active = b.getAttribute("data-framework") === shown;
        b.classList.toggle("active", active);
        b.setAttribute("aria-selected", active ? "true" : "false");
      });
      group.querySelectorAll(".cell").forEach(function (cell) {
        cell.classList.toggle("recbook-tab-hidden", frameworkOf(cell) !== shown);
      });
    });
    document.documentElement.setAttribute("data-recbook-framework", choice);
  }

  function build() {
    var runs = groups();
    runs.forEach(function (run) {
      var present = [];
      run.forEach(function (cell) {
        var f = frameworkOf(cell);
        if (present.indexOf(f) < 0) present.push(f);
      });
      var wrapper = document.createElement("div");
      wrapper.className = "recbook-tabs";
      wrapper.setAttribute("data-frameworks", FRAMEWORKS.map(function (f) { return f[0]; })
        .filter(function (f) { return present.indexOf(f) >= 0; }).join(" "));
      var bar = document.createElement("div");
      bar.className = "recbook-tab-bar";
      bar.setAttribute("role", "tablist");
      FRAMEWORKS.forEach(function (f) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "recbook-tab-button";
        b.setAttribute("role", "tab");
        b.setAttribute("data-framework", f[0]);
        b.textContent = f[1];
        if (present.indexOf(f[0]) < 0) {
          b.disabled = true;
          b.title = "This step has no " + f[1] + " code";
        }
        b.addEventListener("click", function () { store(f[0]); apply(f[0]); });
        bar.appendChild(b);
      });
      run[0].parentNode.insertBefore(wrapper, run[0]);
      wrapper.appendChild(bar);
      run.forEach(function (cell) { wrapper.appendChild(cell); });
    });
    if (runs.length) apply(stored() || "pytorch");
  }

  // Another open page changed the choice: follow it.
  window.addEventListener("storage", function (e) {
    if (e.key === STORAGE_KEY && e.newValue) apply(e.newValue);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", build);
  else build();
})();
