// Starts GraphiQL on verband's page. A file of its own rather than an inline
// script: the page's Content-Security-Policy runs scripts from this server only.
'use strict';
(function () {
  // Relative to the page, so that a reverse proxy may serve verband under a path.
  var endpoint = new URL('graphql', document.baseURI).href;
  var defaultQuery = [
    '# verband. Anonymous callers see the PUBLIC units.',
    '# To act as someone, sign in with the login mutation',
    '# (demo data: lsm.bayern, password verband-demo) and',
    '# put the token, or an API token, into Headers below:',
    '#   { "Authorization": "Bearer <accessToken>" }',
    '',
    '{',
    '  orgUnits(first: 10) {',
    '    totalCount',
    '    edges { node { name visibility level { name } } }',
    '  }',
    '}',
    ''
  ].join('\n');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: endpoint }),
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      // A bearer token stays in this tab's memory, never in localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers'
    })
  );
})();
