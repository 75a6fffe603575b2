// Starts Swagger UI on /docs. A file, not an inline script, so the page passes
// the Content-Security-Policy (script-src 'self'). The OpenAPI URL comes from
// the page's data attribute.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset].filter(
      Boolean
    ),
    layout: "BaseLayout",
  });
})();
