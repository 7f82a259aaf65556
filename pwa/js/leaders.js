// Leaders (领导) and feedback to the complainant (答复): who may do what (the server's role
// sets from GET /api/vocab), the name of the leader in charge, and the feedback methods'
// names (served labels: the app keeps no copy of them).
import { getLang } from "./i18n.js";
import { state } from "./state.js";

const role = () => state.session?.user?.role;
const inSet = (name) => (state.vocab?.role_sets?.[name] || []).includes(role());

// A leader: reads the cases of their units and writes instructions on them.
export const isLeader = () => inSet("leader");
// Who records leaders' instructions (a leader their own, the office on a leader's behalf).
export const canInstruct = () => inSet("instruction");
// Who records telling the complainant (the office and the revisit team).
export const canTellComplainant = () => inSet("feedback");

// The leader in charge's name: {id, name} on a case, the name on a board card.
export function leaderName(item) {
  const leader = item?.leader;
  return leader && typeof leader === "object" ? leader.name || "" : leader || "";
}

// A feedback method's name in the current language ("" when the server names none).
export function feedbackName(value) {
  const names = state.vocab?.labels?.feedback_methods?.[value];
  return names ? names[getLang()] ?? names.en ?? "" : "";
}
