// Renders /api/openapi.json with the embedded Swagger UI bundle.
"use strict";
(function () {
  var root = document.getElementById("api-reference");
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    // "Try it out" calls the API from this page: same origin, so the
    // session cookie rides along; changes then need the CSRF token.
    tryItOutEnabled: false,
  });
})();
