"""Words too frequent in news text to be good prefilter anchors.

Only a cost heuristic for choosing anchors (``monitor.query.anchors``): a rule is correct with
any anchor, but anchoring ``"Acme Group" layoffs`` on ``acme`` rather than ``group`` keeps it
out of most items' candidate lists. Two tiers: function words (almost every item) and
common news vocabulary (many items). Written by hand; normalized at import.
"""

from __future__ import annotations

from monitor.query.fold import normalize

_FUNCTION = """
a about above after again against all also am among an and any are as at be because been
before being below between both but by can could did do does doing down during each either
few for from further had has have having he her here hers him his how i if in into is it its
itself just may me might more most must my no nor not now of off on once one only or other
our ours out over own same shall she should so some such than that the their theirs them
then there these they this those through to too under until up upon us very was we were
what when where which while who whom whose why will with within without would yet you your
s t d ll re ve m o y mr mrs ms dr st
"""

_COMMON = """
able according across act action actually add added adding administration affairs again
age agency ago agreed agreement ahead aid air allow allowed almost already although always
america american amid amount announced announcement annual another anti appeared area areas
around article asked attack attempt authorities authority available average away back bad
bank based basis became become began begin behind believe best better big bill billion black
board body book border bring brought build building business buy call called calls came
campaign capital car care case cases cause center central century chairman change changes
chief children china citizens city claim claimed claims clear close closed club come comes
coming comment commission committee community companies company complete concern concerns
conference confirmed congress continue continued control cost costs could council countries
country county couple course court crisis current customers cut cuts data date day days deal
death decision defence defense demand department despite development did different director
district done down draft due early east economic economy edition effort efforts election
elections else end energy enough entire especially europe european even evening event events
ever every evidence example executive expected experience face fact failed fall family far
federal feel fell figure final finance financial find fire firm first five following force
forces foreign form former found four free friday front full fund funding future game general
get getting give given global go going good got government group groups growth half hand
happened hard head health hear held help high higher history hit hold home hospital hour
hours house however human idea important including increase industry information inside
instead interest international interview investigation issue issues job jobs june july keep
key kind killed know known labour labor land large last late later latest law lead leader
leaders leadership least leave led left legal less let level life like likely line list
little live local long look looking lost lot low made main major make makes making man
management many market markets matter may mean measures media meeting member members men
might military million minister ministers ministry minutes monday money month months more
morning move moved much name named nation national near nearly need needs never new news
next night north nothing number office officer officers official officials oil old open
operation opposition order organisation organization others outside paid part parties party
past pay peace people per percent period person place plan plans play point police policy
political politics poll population position possible post power president press pressure
previous price prices prime private problem problems process program programme project
public put question quickly rate rates rather read real really reason received recent
recently record reform region regional released remain report reported reports research
response rest result results return right rights rise rose rule rules run running said
saturday say saying says school search second secretary security see seen senior series
service services set several share show showed side since single situation six small social
society some someone something south speaking special spokesman staff start started state
statement states still stop story street strong student study support sure system take taken
taking talk talks team term terms test than thing things think third three thursday time
times today together told top total toward towards trade trump tuesday two union united
university use used using vote war water way ways wednesday week weeks well went west whether
white whole wide win woman women work worked workers working world year years yesterday young
holding holdings corp corporation inc ltd limited plc llc company companies co industries
motors airlines airways pharma pharmaceuticals telecom technologies technology systems
solutions partners ventures enterprises resources foods brands financial insurance
"""

_URDU = """
کا کی کے کو میں نے سے پر ہے ہیں اور یہ وہ بھی تو تھا تھی تھے گیا گئی گئے کہ کر کیا کی دیا
لیے ایک اس ان جو تک اب بعد کہا رہے رہی ہوگا ہو گا نہیں کوئی ساتھ
"""

_URDU_COMMON = """
حکومت پاکستان وزیر وزیراعظم صدر عدالت پولیس جماعت رہنما بیان اجلاس ملک شہر سال روز
"""

FUNCTION_WORDS: frozenset[str] = frozenset(normalize(_FUNCTION + _URDU).split())
COMMON_WORDS: frozenset[str] = frozenset(normalize(_COMMON + _URDU_COMMON).split()) - FUNCTION_WORDS
