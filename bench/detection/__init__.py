"""Detection quality: live gap alerts vs naive fixed thresholds on simulated incidents (`make evaluate`).

What runs
1. A seeded scenario: one contact-center tenant at about 1,000 survey answers
   an hour (diurnal volume, small and large segments), one warm-up day, then
   ``--days`` evaluated days. Every other evaluated day holds three incidents
   of known start, scope and size, at business hours; the others are
   incident-free. Kinds, in turn: an NPS drop in one journey step x segment,
   a CSAT collapse in one team, a channel feed that stops.
2. The real pipeline: every event is POSTed to ``cxpulse up`` (HTTP ->
   Kafka/Tansu -> Faust -> chDB). When the worker has processed them all the
   stack stops and this process opens its warehouse.
3. Replay of the alert evaluator over simulated time, every minute: the
   same ``alerts.evaluator.evaluate`` (rules -> state machine) the worker
   runs, fed with windows read back from the warehouse, each evaluation
   seeing only data timed before it. Two rule sets, side by side:
   ``gap``   the live gap rules (``gaps.live``): baseline gaps of NPS and
             CSAT fanned out over channel, journey step, segment, team and
             journey step x segment, and data gaps of volume per channel;
   ``naive`` fixed thresholds on the current hour per value of the same
             dimensions (NPS and CSAT 15 and 10 points under the warm-up
             day's level, n >= 30) and "no contact for 5 minutes" per channel.
4. Scoring. An alert (a firing episode) is *explained* by an incident when it
   starts inside [start, end + 60 min] (the longest window), watches a metric the incident moves,
   and its scope does not contradict the incident's (alert {channel: phone}
   is explained by a team incident; {team: t-billing-1} is not by one in
   t-support-2). Precision = explained / all alerts; recall = incidents with
   an explained alert; time to detect = first explained alert - start;
   false alerts per incident-free day = unexplained alerts on those days.

Answer-based incidents shift answers *given* during the incident
(``Incident(affects="answers")``): time to detect then measures the
detector, not the survey programme's delay (a post-contact e-mail survey
answered 45 minutes later cannot be detected sooner, by any method).

Results are printed and written to bench/results/detection-<time>.json.

Modules, in the order above: ``scenario`` (1), ``ingest`` (2), ``windows``
(the warehouse's windows held in memory) and ``replay`` (3, with both rule
sets), ``scoring`` (4); ``python -m bench.detection`` (``__main__``) runs them.
"""
