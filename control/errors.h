/* control/errors.h - every error code the control API answers, in one X-macro table, and the two
 * languages its messages come in (X-TC-Language / Language: zh-CN or en-US).
 * CTL_ERR(name, "Code", "en-US message", "zh-CN message") -> enum ctl_err CTL_E_<name>, its code
 * string and default messages (the zh-CN ones are Tencent's own wording where it publishes one).
 * Messages are defaults; callers may send a more precise one (clients must not parse messages).
 */
#ifndef GAAPD_CTL_ERRORS_H
#define GAAPD_CTL_ERRORS_H

#include <stddef.h>

#define CTL_ERRORS(X) \
	X(OK, "", "", "") \
	X(AUTH_INVALID_AUTHORIZATION, "AuthFailure.InvalidAuthorization", \
		"The Authorization header is not in the TC3-HMAC-SHA256 format.", \
		"请求头部的 Authorization 不符合腾讯云标准。") \
	X(AUTH_SECRET_ID_NOT_FOUND, "AuthFailure.SecretIdNotFound", \
		"The SecretId is not found, please ensure that your SecretId is correct.", \
		"密钥不存在。请检查密钥是否填写正确，注意前后不得有空格。") \
	X(AUTH_SIGNATURE_EXPIRE, "AuthFailure.SignatureExpire", \
		"The signature is expired, please request again.", \
		"签名过期。Timestamp 和服务器时间相差不得超过五分钟，请检查本地时间是否和标准时间同步。") \
	X(AUTH_SIGNATURE_FAILURE, "AuthFailure.SignatureFailure", \
		"The provided credentials could not be validated. Please check your signature is correct.", \
		"请求签名验证失败，请检查您的签名计算是否正确。") \
	X(AUTH_TOKEN_FAILURE, "AuthFailure.TokenFailure", "The token is invalid.", "token 错误。") \
	X(INVALID_ACTION, "InvalidAction", "The request `Action` is invalid or not found.", \
		"接口不存在。") \
	X(NO_SUCH_VERSION, "NoSuchVersion", "The requested version does not exist.", \
		"接口版本不存在。") \
	X(UNSUPPORTED_PROTOCOL, "UnsupportedProtocol", "Only GET and POST requests are supported.", \
		"HTTP(S) 请求协议错误，只支持 GET 和 POST 请求。") \
	X(UNKNOWN_PARAMETER, "UnknownParameter", "An unknown parameter was passed.", \
		"未知参数错误，用户多传未定义的参数会导致错误。") \
	X(REQUEST_SIZE_LIMIT_EXCEEDED, "RequestSizeLimitExceeded", "The request is too large.", \
		"请求包超过限制大小。") \
	X(REQUEST_LIMIT_EXCEEDED, "RequestLimitExceeded", \
		"The request rate exceeds the frequency limit.", "请求的次数超过了频率限制。") \
	X(MISSING_PARAMETER, "MissingParameter", "A required parameter is missing.", \
		"缺少参数错误，必传参数没填。") \
	X(INVALID_PARAMETER, "InvalidParameter", "A parameter has the wrong type or format.", \
		"参数错误（包括参数格式、类型等错误）。") \
	X(INVALID_PARAMETER_VALUE, "InvalidParameterValue", "A parameter has an invalid value.", \
		"参数取值错误。") \
	X(INVALID_LISTENER_PORT, "InvalidParameterValue.InvalidListenerPort", \
		"The listener port is not available.", "监听器端口不可用。") \
	X(DUPLICATED_LISTENER_PORT, "InvalidParameterValue.DuplicatedListenerPort", \
		"The listener port already exists.", "监听器端口重复。") \
	X(LIMIT_NUM_OF_LISTENER, "FailedOperation.LimitNumofListener", \
		"The number of listeners exceeds the limit.", "监听器数量超过限制。") \
	X(PROXY_STATUS_NOT_IN_RUNING, "FailedOperation.ProxyStatusNotInRuning", \
		"The proxy is not running; listeners cannot be added.", \
		"通道不处于运行状态，无法添加监听器。") \
	X(INSTANCE_STATUS_NOT_IN_RUNING, "FailedOperation.InstanceStatusNotInRuning", \
		"The instance is not running; the operation cannot be performed.", \
		"实例不处于运行状态，无法进行该操作。") \
	X(NOT_SUPPORT_PROXY_GROUP, "FailedOperation.NotSupportProxyGroup", \
		"This operation does not support proxy groups.", "该操作不支持通道组。") \
	X(RESOURCE_NOT_FOUND, "ResourceNotFound", "The resource does not exist.", "资源不存在。") \
	X(UNAUTHORIZED_OPERATION, "UnauthorizedOperation", "The operation is not authorized.", \
		"未授权操作。") \
	X(FAILED_OPERATION, "FailedOperation", "The operation failed.", "操作失败。") \
	X(INTERNAL_ERROR, "InternalError", "An internal error occurred.", "内部错误。") \
	X(SERVICE_UNAVAILABLE, "ServiceUnavailable", "The service is temporarily unavailable.", \
		"当前服务暂时不可用。") \
	X(GROUP_STATUS_NOT_IN_RUNING, "FailedOperation.GroupStatusNotInRuning", \
		"The proxy group is not running; the operation cannot be performed.", \
		"通道组不处于运行状态，无法进行该操作。") \
	X(LISTENER_STATUS_ERROR, "FailedOperation.ListenerStatusError", \
		"The listener's status does not allow this operation.", \
		"监听器状态错误，无法进行该操作。") \
	X(DUPLICATE_RS, "InvalidParameterValue.DuplicateRS", \
		"The real server is already registered.", "源站重复。") \
	X(INVALID_TAGS, "InvalidParameterValue.InvalidTags", "The tags are invalid.", \
		"标签不合法。") \
	X(TAG_QUOTA, "LimitExceeded.TagQuota", "Too many tags.", "标签数量超过限制。") \
	X(LIMIT_EXCEEDED, "LimitExceeded", "A quota was exceeded.", "超过配额限制。") \
	X(RS_ALREADY_BOUND, "FailedOperation.RealServerAlreadyBound", \
		"The real server is bound to a rule.", "源站已被绑定。") \
	X(DOMAIN_ALREADY_EXISTED, "FailedOperation.DomainAlreadyExisted", \
		"The domain already exists on the listener.", "域名已存在。") \
	X(RULE_ALREADY_EXISTED, "FailedOperation.RuleAlreadyExisted", \
		"The rule already exists.", "转发规则已存在。") \
	X(LIMIT_NUM_OF_RULES, "FailedOperation.LimitNumofRules", \
		"The number of rules exceeds the limit.", "转发规则数量超过限制。") \
	X(LIMIT_REAL_SERVER_NUM, "FailedOperation.LimitRealServerNum", \
		"The number of real servers bound exceeds the limit.", "源站数量超过限制。") \
	X(INVALID_LISTENER_PROTOCOL, "FailedOperation.InvalidListenerProtocol", \
		"The listener's protocol does not support this operation.", "监听器协议不支持该操作。") \
	X(RS_NOT_BELONG, "InvalidParameterValue.RealServerNotBelong", \
		"The real server does not exist.", "源站不属于该用户。") \
	X(HIT_BLACKLIST, "InvalidParameterValue.HitBlacklist", \
		"The header name is not allowed.", "命中黑名单。") \
	X(INVALID_CERTIFICATE_CONTENT, "InvalidParameterValue.InvalidCertificateContent", \
		"The certificate content is invalid.", "证书内容不合法。") \
	X(INVALID_CERTIFICATE_KEY, "InvalidParameterValue.InvalidCertificateKey", \
		"The certificate key is invalid.", "证书密钥不合法。") \
	X(CERTIFICATE_CONTENT_NOT_MATCH_KEY, "InvalidParameterValue.CertificateContentNotMatchKey", \
		"The certificate content does not match the key.", "证书内容与密钥不匹配。") \
	X(CERTIFICATE_NOT_MATCH_DOMAIN, "InvalidParameterValue.CertificateNotMatchDomain", \
		"The certificate does not match the domain.", "证书与域名不匹配。") \
	X(INVALID_CERTIFICATE_ID, "InvalidParameterValue.InvalidCertificateId", \
		"The certificate ID is invalid.", "证书ID不合法。") \
	X(CERTIFICATE_IS_USING, "FailedOperation.CertificateIsUsing", \
		"The certificate is in use.", "证书正在使用中。") \
	X(UNSUPPORTED_OPERATION, "UnsupportedOperation", "The operation is not supported.", \
		"操作不支持。")

enum ctl_err {
#define CTL_ERR_ENUM(name, code, en, zh) CTL_E_##name,
	CTL_ERRORS(CTL_ERR_ENUM)
#undef CTL_ERR_ENUM
	CTL_E__COUNT
};

enum ctl_lang {
	CTL_LANG_EN_US,             /* the default */
	CTL_LANG_ZH_CN,
};

const char *ctl_err_code(enum ctl_err e);
/* The default en-US message. */
const char *ctl_err_message(enum ctl_err e);
/* The default message in lang. */
const char *ctl_err_message_in(enum ctl_err e, enum ctl_lang lang);

/* "en-US" or "zh-CN" (ASCII case ignored) into *out; NULL and "" mean en-US, since the Go SDK sends
 * an empty X-TC-Language. 0, or -1 for any other value (-> InvalidParameterValue). */
int ctl_lang_parse(const char *s, enum ctl_lang *out);

/* The Message of an error answer into out. detail is the call's precise message, always English
 * ("" or NULL = none). en-US: detail, else the default. zh-CN: the zh-CN default, then the detail in
 * parentheses when there is one, so the precise cause is not lost: "参数取值错误。(Port 0 ...)".
 * The result is valid UTF-8 whatever detail holds (it may echo client bytes, or be cut short): a
 * byte that starts no valid sequence becomes '?', a sequence cut at the end is dropped. */
void ctl_err_text(enum ctl_err e, enum ctl_lang lang, const char *detail, char *out, size_t outlen);

/* Make s valid UTF-8 in place, as ctl_err_text() does with detail. */
void ctl_utf8_clean(char *s);

#endif
