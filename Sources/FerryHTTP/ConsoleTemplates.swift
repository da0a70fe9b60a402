/// The web console's pages (Mustache). `{{x}}` escapes HTML, so payloads, headers and error
/// texts show as text whatever they hold; no template uses the unescaped `{{{x}}}`.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "login": login, "overview": overview, "topics": topics, "groups": groups,
        "deadLetters": deadLetters, "tail": tail, "history": history, "trace": trace, "message": message,
    ]

    static let header = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · ferryd</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#17324d;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
        header a{color:#cfe3ff;text-decoration:none}header a.here{color:#fff;font-weight:600}
        header .who{margin-left:auto;font-size:.9em;opacity:.9}
        main{padding:1rem 1.2rem;max-width:1200px}
        table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}
        th,td{border-bottom:1px solid #e1e4ea;padding:.35rem .5rem;text-align:left;vertical-align:top}
        th{background:#eef1f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}
        .cards{display:flex;gap:.8rem;flex-wrap:wrap}.card{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
        .card b{display:block;font-size:1.5em}
        pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f0f2f5;padding:.4rem;margin:.2rem 0;max-height:14rem;overflow:auto}
        form.inline{display:inline}#filter input{width:9.5rem}input,select,button{font:inherit;padding:.2rem .4rem}
        button.danger{background:#b3261e;color:#fff;border:1px solid #8c1d18}button{cursor:pointer}
        .flash{background:#e6f4ea;border:1px solid #a8d5b5;padding:.5rem;margin:.5rem 0}.error{background:#fdecea;border-color:#f5c2c0}
        .muted{color:#667}
        .event{background:#fff;border:1px solid #e1e4ea;border-left:4px solid #17324d;border-radius:4px;padding:.5rem .8rem;margin:.5rem 0}
        .event h2{font-size:1.05em;margin:0 0 .3rem}.steps{margin:.2rem 0 .2rem 1rem;padding:0;list-style:none}
        .steps li{padding:.1rem 0}.steps li.failure{color:#b3261e}.steps .at{display:inline-block;min-width:6.5rem;color:#667;font-variant-numeric:tabular-nums}
        .group{font-weight:600;margin-top:.3rem}
        </style></head><body>
        <header><strong>ferryd</strong>
        <a href="/console" class="{{#nav.overview}}here{{/nav.overview}}">Overview</a>
        <a href="/console/topics" class="{{#nav.topics}}here{{/nav.topics}}">Topics</a>
        <a href="/console/groups" class="{{#nav.groups}}here{{/nav.groups}}">Consumer groups</a>
        <a href="/console/tail" class="{{#nav.tail}}here{{/nav.tail}}">Live tail</a>
        <a href="/console/history" class="{{#nav.history}}here{{/nav.history}}">Key history</a>
        <a href="/console/trace" class="{{#nav.trace}}here{{/nav.trace}}">Event trace</a>
        {{#who}}<span class="who">{{who}} ({{role}}){{#canSignOut}} · <form class="inline" method="post" action="/console/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>Sign out</button></form>{{/canSignOut}}</span>{{/who}}
        </header><main>
        {{#flash}}<div class="flash" id="flash">{{flash}}</div>{{/flash}}{{#problem}}<div class="flash error" id="problem">{{problem}}</div>{{/problem}}
        """

    static let footer = """
        </main></body></html>
        """

    static let login = """
        {{> header}}
        <h1>Sign in</h1>
        <form method="post" action="/console/login">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label>Principal <input name="principal" autocomplete="username" required maxlength="64"></label></p>
        <p><label>Password or token <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label></p>
        <p><button>Sign in</button></p></form>
        {{> footer}}
        """

    static let overview = """
        {{> header}}
        <h1>Overview</h1>
        <div class="cards">
        <div class="card">Publish rate<b id="publish-rate">…</b>events/s</div>
        <div class="card">Delivery rate<b id="delivery-rate">…</b>deliveries/s</div>
        <div class="card">Stored<b id="stored">{{storedBytes}}</b>bytes</div>
        <div class="card">Connections<b id="connections">{{connections}}</b>peers</div>
        <div class="card">Storage<b id="storage">{{storage}}</b>{{storageDetail}}</div>
        <div class="card">Dead letters<b id="dead-letters">{{deadLetters}}</b>across {{groupCount}} durable groups</div>
        </div>
        <h2>Consumer groups</h2>
        <table><tr><th>Group</th><th class="n">Members</th><th class="n">Lag</th><th class="n">In flight</th><th class="n">Retry queue</th><th class="n">Dead letters</th></tr>
        {{#groups}}<tr><td><a href="/console/groups/{{urlName}}">{{name}}</a></td><td class="n">{{members}}</td><td class="n">{{lag}}</td><td class="n">{{inFlight}}</td><td class="n">{{retryQueue}}</td><td class="n"><a href="/console/groups/{{urlName}}/dead-letters">{{deadLetters}}</a></td></tr>{{/groups}}
        </table>
        <p class="muted">Rates are measured by this page every 2 s from the broker's counters.</p>
        <script>
        (function(){let last=null;async function tick(){try{
        const [t,g]=await Promise.all([fetch('/api/v1/topics').then(r=>r.json()),fetch('/api/v1/groups').then(r=>r.json())]);
        const now=Date.now();const published=t.topics.reduce((a,x)=>a+x.next_offset,0);const delivered=g.groups.reduce((a,x)=>a+x.delivered,0);
        if(last){const s=(now-last.at)/1000;document.getElementById('publish-rate').textContent=Math.max(0,Math.round((published-last.published)/s));
        document.getElementById('delivery-rate').textContent=Math.max(0,Math.round((delivered-last.delivered)/s));}
        document.getElementById('stored').textContent=t.stored_bytes;document.getElementById('connections').textContent=t.connections;
        last={at:now,published:published,delivered:delivered};}catch(e){}}
        tick();setInterval(tick,2000);})();
        </script>
        {{> footer}}
        """

    static let topics = """
        {{> header}}
        <h1>Topics</h1>
        <table><tr><th>Topic</th><th class="n">Events held</th><th class="n">First offset</th><th class="n">Next offset</th></tr>
        {{#topics}}<tr><td>{{name}}</td><td class="n">{{events}}</td><td class="n">{{firstOffset}}</td><td class="n">{{nextOffset}}</td></tr>{{/topics}}
        </table><p>Stored: {{storedBytes}} bytes.</p>
        {{> footer}}
        """

    static let groups = """
        {{> header}}
        <h1>Consumer groups</h1>
        <table><tr><th>Group</th><th>Follows</th><th class="n">Members</th><th class="n">Lag</th><th class="n">In flight</th><th class="n">Retry queue</th><th class="n">Dead letters</th><th class="n">Delivered</th><th class="n">Acked</th><th class="n">Nacked</th><th class="n">Redelivered</th><th class="n">Dead-lettered</th></tr>
        {{#groups}}<tr id="group-{{name}}"><td><a href="/console/groups/{{urlName}}/dead-letters">{{name}}</a>{{#ephemeral}} <span class="muted">(ephemeral)</span>{{/ephemeral}}</td><td>{{patterns}}</td><td class="n">{{members}}</td><td class="n">{{lag}}</td><td class="n">{{inFlight}}</td><td class="n">{{retryQueue}}</td><td class="n"><a href="/console/groups/{{urlName}}/dead-letters">{{deadLetters}}</a></td><td class="n">{{delivered}}</td><td class="n">{{acked}}</td><td class="n">{{nacked}}</td><td class="n">{{redelivered}}</td><td class="n">{{deadLettered}}</td></tr>
        {{#topics}}<tr><td></td><td colspan="2" class="muted">{{topic}}</td><td class="n muted">{{lag}}</td><td colspan="8" class="muted">position {{position}} of {{end}}</td></tr>{{/topics}}{{/groups}}
        </table><p class="muted">Counters count from the broker's start.</p>
        {{> footer}}
        """

    static let deadLetters = """
        {{> header}}
        <h1>Dead letters of {{group}}</h1>
        <form method="get" action="/console/groups/{{urlGroup}}/dead-letters" id="filter">
        <label>Event type <input name="type" value="{{filter.type}}"></label>
        <label>Error contains <input name="error" value="{{filter.error}}"></label>
        <label>Key <input name="key" value="{{filter.key}}"></label>
        <label>Since <input name="since" value="{{filter.since}}" placeholder="2026-12-07T10:00:00Z"></label>
        <label>Until <input name="until" value="{{filter.until}}"></label>
        <button>Filter</button> <a href="/console/groups/{{urlGroup}}/dead-letters">clear</a></form>
        <form method="post" action="/console/groups/{{urlGroup}}/dead-letters/action" id="entries">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#filterFields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/filterFields}}
        <p>{{count}} shown{{#nextAfter}} · <a href="/console/groups/{{urlGroup}}/dead-letters?after={{nextAfter}}&amp;{{filterQuery}}">next page</a>{{/nextAfter}}
        {{#admin}} · <button name="action" value="requeue-selected">Requeue selected</button>
        <button name="action" value="purge-selected" class="danger" data-confirm="Purge the selected dead letters? Their events are deleted.">Purge selected</button>
        <button name="action" value="requeue-matching">Requeue all matching</button>
        <button name="action" value="purge-matching" class="danger" data-confirm="Purge EVERY dead letter matching this filter? Their events are deleted.">Purge all matching</button>{{/admin}}
        {{^admin}} <span class="muted">(read-only: requeue and purge need administration of this group)</span>{{/admin}}</p>
        <table><tr><th><input type="checkbox" id="select-all" aria-label="select all"></th><th>Id</th><th>Event</th><th>Error</th><th class="n">Attempts</th><th>Dead-lettered</th></tr>
        {{#entries}}<tr class="entry" id="entry-{{id}}"><td><input type="checkbox" name="id" value="{{id}}" aria-label="select {{id}}"></td><td>{{id}}</td>
        <td><b>{{type}}</b> <span class="muted">{{topic}} @ {{offset}}</span><br>id <a class="trace-link" href="/console/trace?event={{urlEventId}}">{{eventId}}</a>{{#key}} · key <a href="/console/history?key={{urlKey}}">{{key}}</a>{{/key}}
        <details><summary>payload and headers</summary><pre class="payload">{{payload}}</pre>{{#headers}}<div class="muted">{{name}}: {{value}}</div>{{/headers}}</details></td>
        <td><pre class="error-text">{{lastError}}</pre><span class="muted">{{reason}}</span></td><td class="n">{{attempts}}</td><td class="t">{{deadLetteredAt}}</td></tr>{{/entries}}
        </table></form>
        <script>
        document.getElementById('entries').addEventListener('submit',function(e){const b=e.submitter;
        if(b&&b.dataset.confirm&&!window.confirm(b.dataset.confirm)){e.preventDefault();}});
        const all=document.getElementById('select-all');if(all){all.addEventListener('change',function(){
        for(const box of document.querySelectorAll('input[name=id]')){box.checked=all.checked;}});}
        </script>
        {{> footer}}
        """

    static let tail = """
        {{> header}}
        <h1>Live tail</h1>
        <form method="get" action="/console/tail"><label>Topics <input name="topics" value="{{topics}}" placeholder="orders.> or orders.created"></label> <button>Follow</button></form>
        {{#topics}}<p class="muted">New events of <b>{{topics}}</b> appear below as they are stored (an ephemeral group; it goes when this page closes).</p>
        <p id="tail-status" class="muted"></p>
        <table id="tail" data-topics="{{topics}}"><tr><th>Topic</th><th>Offset</th><th>Type</th><th>Key</th><th>Payload</th></tr></table>
        <script>
        (function(){const table=document.getElementById('tail');const source=new EventSource('/console/tail/stream?topics='+encodeURIComponent(table.dataset.topics));
        source.onmessage=function(m){const e=JSON.parse(m.data);const row=table.insertRow(1);
        for(const v of [e.topic,e.offset,e.type,e.key||'',e.payload]){const c=row.insertCell();c.textContent=String(v);}
        while(table.rows.length>201){table.deleteRow(201);}};
        source.onopen=function(){document.getElementById('tail-status').textContent='following';};
        source.onerror=function(){document.getElementById('tail-status').textContent='not following: the topics are not valid patterns, or ferryd is not reachable (retrying)';};})();
        </script>{{/topics}}
        {{> footer}}
        """

    static let history = """
        {{> header}}
        <h1>Key history</h1>
        <form method="get" action="/console/history"><label>Key <input name="key" value="{{key}}"></label> <button>Show</button></form>
        {{#key}}<p><a href="/console/trace?key={{urlKey}}" id="trace-key">Trace every event of this key</a></p>
        <table><tr><th>Stored</th><th>Topic</th><th>Offset</th><th>Type</th><th>Id</th><th>Payload</th></tr>
        {{#events}}<tr><td class="t">{{storedAt}}</td><td>{{topic}}</td><td class="n">{{offset}}</td><td>{{type}}</td><td><a class="trace-link" href="/console/trace?event={{urlID}}">{{id}}</a></td><td><pre>{{payload}}</pre></td></tr>{{/events}}
        </table>{{/key}}
        {{> footer}}
        """

    static let trace = """
        {{> header}}
        <h1>Event trace</h1>
        <form method="get" action="/console/trace" id="trace-form"><label>Event id <input name="event" value="{{event}}"></label>
        <label>or key <input name="key" value="{{key}}"></label> <label>or correlation id <input name="correlation" value="{{correlation}}"></label>
        <button>Trace</button></form>
        {{#asked}}{{#empty}}<p id="no-trace">No trace: the event was never published, was not sampled, or is past the trace log's retention.</p>{{/empty}}
        {{#first}}<p class="muted">Times are relative to the first publish, {{first}}.{{#sampling}} ferryd samples traces ({{sampling}}): events or steps may be missing.{{/sampling}}</p>{{/first}}
        {{#rows}}<div class="event" style="margin-left:{{indent}}px" id="event-{{id}}">
        <h2>{{#caused}}<span class="muted">caused </span>{{/caused}}{{type}} <span class="muted">{{topic}} @ {{offset}}</span></h2>
        <div>id <a href="/console/trace?event={{urlID}}">{{id}}</a>{{#key}} · key <a href="/console/history?key={{urlKey}}">{{key}}</a>{{/key}} · published {{publishedAt}}{{#publisher}} by {{publisher}}{{/publisher}}</div>
        {{#groups}}<div class="group">{{group}}</div><ul class="steps">{{#steps}}<li class="step {{kind}}{{#failure}} failure{{/failure}}"><span class="at">{{at}}</span> {{text}}</li>{{/steps}}</ul>{{/groups}}
        {{#truncated}}<p class="muted">More steps were recorded than are shown.</p>{{/truncated}}
        </div>{{/rows}}
        {{#truncated}}<p class="muted">More events match than are shown.</p>{{/truncated}}{{/asked}}
        {{> footer}}
        """

    static let message = """
        {{> header}}
        <h1>{{title}}</h1><p><a href="{{back}}">Back</a></p>
        {{> footer}}
        """
}
