/* 接待台: find the household as the clerk types, show what is open for it, save the call or visit
   (and the repair order or complaint it needs) without leaving the page. Plain JS, no CDN. */
(function () {
  "use strict";
  var root = document.getElementById("reception-desk");
  if (!root) { return; }
  var options = JSON.parse(document.getElementById("desk-options").textContent);
  var csrf = root.getAttribute("data-csrf");
  var $ = function (id) { return document.getElementById(id); };
  var state = { owner: null, results: [], active: -1, timer: null, seq: 0 };

  var T = options.texts;  // the page's texts in the user's language (views/reception_desk.py DESK_TEXTS)
  var fmt = function (text, values) { return text.replace(/%\((\w+)\)s/g, function (m, k) { return values[k]; }); };
  var EXPIRED = T.expired;
  function asJson(r) {
    var type = r.headers.get("Content-Type") || "";
    if (r.redirected || type.indexOf("application/json") < 0) { throw new Error(EXPIRED); }
    return r.json();
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function fill(select, items, blank) {
    select.innerHTML = "";
    if (blank !== undefined) { select.appendChild(el("option", { value: "" }, blank)); }
    (items || []).forEach(function (it) { select.appendChild(el("option", { value: it.value }, it.label)); });
  }
  function kind() { return document.querySelector("input[name=kind]:checked").value; }
  function followUp() { return document.querySelector("input[name=follow_up]:checked").value; }

  // ------------------------------------------------------------ dropdowns
  fill($("desk-estate"), options.estates);
  fill($("desk-category"), options.categories);
  if (options.repair) {
    fill($("repair-category"), options.repair.categories);
    fill($("repair-urgency"), options.repair.urgency);
    fill($("repair-reason"), options.repair.emergency_reasons, "—");
  }
  if (options.complaint) { fill($("complaint-category"), options.complaint.categories); }
  if (!options.can.repair) { $("desk-follow-repair").parentNode.classList.add("hidden"); }
  if (!options.can.complaint) { $("desk-follow-complaint").parentNode.classList.add("hidden"); }

  function estateChanged() {
    var estateId = $("desk-estate").value;
    fill($("desk-for-staff"), options.staff[estateId] || [], T.no_message);
    fill($("desk-dept"), options.departments.filter(function (d) {
      return d.estate_id === null || String(d.estate_id) === String(estateId);
    }), "—");
  }
  $("desk-estate").addEventListener("change", function () {
    if (state.owner && String(state.owner.estate_id) !== $("desk-estate").value) { clearOwner(); }
    estateChanged();
  });
  estateChanged();

  function kindChanged() {
    var k = kind();
    document.querySelectorAll(".kind-call").forEach(function (n) { n.classList.toggle("hidden", k !== "call"); });
    document.querySelectorAll(".kind-visit").forEach(function (n) { n.classList.toggle("hidden", k !== "visit"); });
    onSpotChanged();
  }
  function onSpotChanged() {
    $("desk-dept-group").classList.toggle("hidden", kind() !== "visit" || $("desk-on-spot").checked);
  }
  function followChanged() {
    $("desk-repair").classList.toggle("hidden", followUp() !== "repair");
    $("desk-complaint").classList.toggle("hidden", followUp() !== "complaint");
  }
  document.querySelectorAll("input[name=kind]").forEach(function (n) { n.addEventListener("change", kindChanged); });
  document.querySelectorAll("input[name=follow_up]").forEach(function (n) { n.addEventListener("change", followChanged); });
  $("desk-on-spot").addEventListener("change", onSpotChanged);
  $("repair-urgency").addEventListener("change", function () {
    $("repair-reason-group").classList.toggle("hidden", this.value !== "emergency");
  });
  kindChanged();

  // ------------------------------------------------------------ lookup
  var search = $("desk-search"), list = $("desk-results");
  search.addEventListener("input", function () {
    clearTimeout(state.timer);
    state.timer = setTimeout(lookup, 200);
  });
  search.addEventListener("keydown", function (e) {
    if (!state.results.length) { return; }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      state.active = (state.active + (e.key === "ArrowDown" ? 1 : -1) + state.results.length) % state.results.length;
      highlight();
    } else if (e.key === "Enter") {
      e.preventDefault();
      pick(state.results[Math.max(state.active, 0)]);
    }
  });
  function lookup() {
    var q = search.value.trim();
    var seq = ++state.seq;
    if (!q) { list.innerHTML = ""; state.results = []; return; }
    fetch(options.urls.lookup + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(asJson)
      .then(function (data) {
        if (seq !== state.seq) { return; }  // an older answer arriving late
        state.results = data.results || [];
        state.active = state.results.length ? 0 : -1;
        list.innerHTML = "";
        if (!state.results.length) {
          list.appendChild(el("div", { "class": "list-group-item text-muted", id: "desk-no-result" }, data.message || T.not_found));
          return;
        }
        state.results.forEach(function (o, i) {
          var item = el("a", { href: "#", "class": "list-group-item desk-result", "data-index": i });
          var head = el("strong", {}, o.name);
          item.appendChild(head);
          item.appendChild(document.createTextNode(" " + o.phone));
          item.appendChild(el("div", { "class": "small text-muted" }, o.estate + " " + o.unit + (o.company ? " · " + o.company : "") + " · " + o.kind_label));
          item.addEventListener("click", function (e) { e.preventDefault(); pick(o); });
          list.appendChild(item);
        });
        highlight();
      })
      .catch(function (err) {
        list.innerHTML = "";
        list.appendChild(el("div", { "class": "list-group-item text-danger" }, err.message === EXPIRED ? EXPIRED : T.lookup_failed));
      });
  }
  function highlight() {
    list.querySelectorAll(".desk-result").forEach(function (n, i) { n.classList.toggle("active", i === state.active); });
  }

  function pick(o) {
    state.owner = o;
    list.innerHTML = "";
    state.results = [];
    search.value = o.name + " " + o.phone;
    $("desk-estate").value = String(o.estate_id);
    estateChanged();
    $("desk-owner-label").textContent = o.estate + " " + o.unit + " " + o.name + "(" + o.kind_label + ")";
    $("desk-name").value = o.name;
    $("desk-phone").value = o.phone;
    loadHousehold();
    $("desk-text").focus();
  }
  function clearOwner() {
    state.owner = null;
    $("desk-owner-label").textContent = T.no_owner;
    $("desk-household").classList.add("hidden");
  }
  $("hh-clear").addEventListener("click", function () { clearOwner(); search.value = ""; search.focus(); });

  function renderList(ul, badge, rows, line) {
    ul.innerHTML = "";
    $(badge).textContent = rows.length;
    if (!rows.length) { ul.appendChild(el("li", { "class": "text-muted" }, T.none)); return; }
    rows.forEach(function (r) {
      var li = el("li");
      var text = line(r);
      if (r.url) { var a = el("a", { href: r.url, target: "_blank" }, text); li.appendChild(a); } else { li.textContent = text; }
      ul.appendChild(li);
    });
  }
  function loadHousehold() {
    if (!state.owner) { return; }
    fetch(options.urls.household.replace(/0$/, String(state.owner.owner_id)), { credentials: "same-origin" })
      .then(asJson)
      .then(function (data) {
        if (!data.owner) { return; }
        $("hh-title").textContent = data.owner.estate + " " + data.owner.unit + " " + data.owner.name;
        renderList($("hh-orders"), "hh-orders-count", data.repair_orders, function (o) {
          return o.number + " " + o.status_label + " · " + o.category_label + " · " + o.problem;
        });
        renderList($("hh-complaints"), "hh-complaints-count", data.complaints, function (c) {
          return c.number + " " + c.status_label + " · " + c.category_label + " · " + c.content;
        });
        renderList($("hh-requests"), "hh-requests-count", data.payment_requests, function (p) {
          return p.number + " " + p.period + " " + p.status_label + " · " + fmt(T.unpaid, { b: p.balance, d: p.due_on });
        });
        var recent = $("hh-recent");
        recent.innerHTML = "";
        if (!data.recent.length) { recent.appendChild(el("li", { "class": "text-muted" }, T.none)); }
        data.recent.forEach(function (r) {
          var li = el("li");
          var text = r.at + " " + r.kind + " · " + r.category_label + " · " + r.text;
          if (r.url) { li.appendChild(el("a", { href: r.url, target: "_blank" }, text)); } else { li.textContent = text; }
          recent.appendChild(li);
        });
        $("desk-household").classList.remove("hidden");
      });
  }

  // ------------------------------------------------------------ save
  function clearErrors() {
    root.querySelectorAll(".has-error").forEach(function (n) { n.classList.remove("has-error"); });
    root.querySelectorAll(".desk-error").forEach(function (n) { n.parentNode.removeChild(n); });
  }
  function showResult(kindClass, nodes) {
    var box = $("desk-result");
    box.className = "alert alert-" + kindClass;
    box.innerHTML = "";
    nodes.forEach(function (n) { box.appendChild(typeof n === "string" ? document.createTextNode(n) : n); });
  }
  function body() {
    var data = {
      kind: kind(),
      estate_id: $("desk-estate").value ? Number($("desk-estate").value) : null,
      owner_id: state.owner ? state.owner.owner_id : null,
      unit_id: state.owner ? state.owner.unit_id : null,
      name: $("desk-name").value.trim(),
      phone: $("desk-phone").value.trim(),
      category: $("desk-category").value,
      text: $("desk-text").value.trim(),
      outcome: $("desk-outcome").value.trim(),
      follow_up: followUp() || null
    };
    if (data.kind === "call") {
      data.for_staff_id = $("desk-for-staff").value ? Number($("desk-for-staff").value) : null;
    } else {
      data.handled_on_spot = $("desk-on-spot").checked;
      data.department_id = !data.handled_on_spot && $("desk-dept").value ? Number($("desk-dept").value) : null;
    }
    if (data.follow_up === "repair") {
      data.repair = {
        category: $("repair-category").value,
        urgency: $("repair-urgency").value,
        emergency_reason: $("repair-urgency").value === "emergency" ? $("repair-reason").value : null,
        appointment_at: $("repair-appointment").value || null,
        location: $("repair-location").value.trim() || null,
        paid: $("repair-paid").checked
      };
    } else if (data.follow_up === "complaint") {
      data.complaint = { category: $("complaint-category").value };
    }
    return data;
  }
  $("desk-form").addEventListener("submit", function (e) {
    e.preventDefault();
    clearErrors();
    var save = $("desk-save");
    save.disabled = true;
    fetch(options.urls.record, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body())
    }).then(function (r) {
      return asJson(r).then(function (data) { return { status: r.status, data: data }; });
    }).then(function (res) {
      save.disabled = false;
      var data = res.data;
      if (res.status !== 201) {
        var group = data.field ? root.querySelector('[data-field="' + data.field + '"]') : null;
        if (group) {
          group.classList.add("has-error");
          var target = group.querySelector(".col-sm-9") || group;
          target.appendChild(el("span", { "class": "help-block desk-error" }, data.message));
        }
        showResult("danger", [String(data.message || T.save_failed)]);
        return;
      }
      var nodes = [T.saved];
      var link = function (item) {
        return item.url ? el("a", { href: item.url, target: "_blank", "class": "alert-link" }, item.label) : el("strong", {}, item.label);
      };
      nodes.push(link(data.record));
      if (data.follow_up) { nodes.push(data.follow_up.type === "repair_order" ? T.repair_recorded : T.complaint_recorded); nodes.push(link(data.follow_up)); }
      if (data.message_sent) { nodes.push(fmt(T.message_sent, { who: data.message_sent })); }
      showResult("success", nodes);
      $("desk-text").value = "";
      $("desk-outcome").value = "";
      document.querySelector("input[name=follow_up][value='']").checked = true;
      followChanged();
      loadHousehold();
    }).catch(function (err) {
      save.disabled = false;
      showResult("danger", [err.message === EXPIRED ? EXPIRED + T.not_saved : T.network_error]);
    });
  });
  $("desk-form").addEventListener("reset", function () {
    setTimeout(function () { clearErrors(); clearOwner(); kindChanged(); followChanged(); estateChanged(); }, 0);
  });
})();
