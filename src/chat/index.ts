/** Chat prompts for Fugaku-LLM-13B-instruct. */
export {
  applyChatTemplate,
  chatTemplateNote,
  fitHistory,
  FUGAKU_CHAT_TEMPLATE,
  DEFAULT_SYSTEM_PROMPT,
  INPUT_SYSTEM_PROMPT,
  EOS_TOKEN,
  TURN_STOP_STRING,
  type ChatMessage,
  type ApplyChatTemplateOptions,
} from './template.js';
