// Loaded on widget pages only, between require.js and the html-manager's
// embed-amd.js (see nb_ipywidgets_js in _config.yml). Two fixes:
//
// 1. Asset URLs. embed-amd.js defines named AMD modules ("@jupyter-widgets/...")
//    and webpack derives its public path (FontAwesome fonts) from each
//    module's require.js URI, by default <page dir>/@jupyter-widgets/... (404).
//    Map those ids into the vendored html-manager folder.
// 2. MathJax 3. @jupyter-widgets/controls typesets widget labels with the
//    MathJax 2 API (MathJax.Hub.Queue) whenever window.MathJax exists, which
//    throws under MathJax 3. Provide a minimal Hub.Queue backed by
//    MathJax.typesetPromise, both on the config object (before MathJax has
//    loaded) and on the real MathJax object (after startup).
(function () {
  var base = new URL("vendored/html-manager/", document.currentScript.src).href;
  var ids = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd"
  ];
  var paths = {};
  ids.forEach(function (id) {
    paths[id] = base + id.split("/").pop();
  });
  window.require.config({ paths: paths });

  var config = window.MathJax;
  if (!config || config.version) {
    return; // no math on this page (or MathJax already loaded: not expected here)
  }
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax;
      var el = job && job[2];
      if (mj && mj.typesetPromise && mj.startup && mj.startup.promise) {
        mj.startup.promise = mj.startup.promise.then(function () {
          return mj.typesetPromise(el ? [el] : undefined);
        });
      }
      // before MathJax has loaded, its initial page typeset covers the label
    }
  };
  config.Hub = hub;
  config.startup = config.startup || {};
  var ready = config.startup.ready;
  config.startup.ready = function () {
    if (ready) {
      ready();
    } else {
      window.MathJax.startup.defaultReady();
    }
    window.MathJax.Hub = hub;
  };
})();
