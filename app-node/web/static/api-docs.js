// Renders /api/openapi.json with the embedded Swagger UI bundle.
"use strict";
(function () {
  var root = document.getElementById("api-reference");
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    // "Try it out" stays behind its button: its requests are real ones to
    // this node (with the session cookie; changes also need a token given
    // through "Authorize").
    tryItOutEnabled: false,
  });
})();
