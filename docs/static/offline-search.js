/* Search excerpts for the course site opened from disk (file://).

   Sphinx's search fetches each result's page to cut an excerpt from it; a browser refuses fetch()
   under file://, so the results came without excerpts. Opened from disk, the search page also
   loads _static/page-texts.js (the main part of every page, written by docs/build.py), and this
   answers those fetches from it. Served over http nothing changes. */
(() => {
  if (location.protocol !== "file:") return;
  const root = new URL(document.documentElement.dataset.content_root || "./", location.href).href;
  const fetchFromDisk = window.fetch.bind(window);
  window.fetch = (resource, options) => {
    const url = new URL(String(resource), location.href).href.split("#")[0];
    const pages = window.NUMPYVAE_PAGES || {};
    const page = url.startsWith(root) ? pages[url.slice(root.length)] : undefined;
    if (page === undefined) return fetchFromDisk(resource, options);
    return Promise.resolve(new Response(page, { headers: { "Content-Type": "text/html" } }));
  };
})();
