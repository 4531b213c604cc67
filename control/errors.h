/* control/errors.h - every error code the control API answers, in one X-macro table.
 * CTL_ERR(name, "Code", "en-US message") -> enum ctl_err CTL_E_<name>, its code string and message.
 * Messages are defaults; callers may send a more precise one (clients must not parse messages).
 */
#ifndef GAAPD_CTL_ERRORS_H
#define GAAPD_CTL_ERRORS_H

#define CTL_ERRORS(X) \
	X(OK, "", "") \
	X(AUTH_INVALID_AUTHORIZATION, "AuthFailure.InvalidAuthorization", \
		"The Authorization header is not in the TC3-HMAC-SHA256 format.") \
	X(AUTH_SECRET_ID_NOT_FOUND, "AuthFailure.SecretIdNotFound", \
		"The SecretId is not found, please ensure that your SecretId is correct.") \
	X(AUTH_SIGNATURE_EXPIRE, "AuthFailure.SignatureExpire", \
		"The signature is expired, please request again.") \
	X(AUTH_SIGNATURE_FAILURE, "AuthFailure.SignatureFailure", \
		"The provided credentials could not be validated. Please check your signature is correct.") \
	X(AUTH_TOKEN_FAILURE, "AuthFailure.TokenFailure", "The token is invalid.") \
	X(INVALID_ACTION, "InvalidAction", "The request `Action` is invalid or not found.") \
	X(NO_SUCH_VERSION, "NoSuchVersion", "The requested version does not exist.") \
	X(UNSUPPORTED_PROTOCOL, "UnsupportedProtocol", "Only GET and POST requests are supported.") \
	X(UNKNOWN_PARAMETER, "UnknownParameter", "An unknown parameter was passed.") \
	X(REQUEST_SIZE_LIMIT_EXCEEDED, "RequestSizeLimitExceeded", "The request is too large.") \
	X(REQUEST_LIMIT_EXCEEDED, "RequestLimitExceeded", "The request rate exceeds the frequency limit.") \
	X(MISSING_PARAMETER, "MissingParameter", "A required parameter is missing.") \
	X(INVALID_PARAMETER, "InvalidParameter", "A parameter has the wrong type or format.") \
	X(INVALID_PARAMETER_VALUE, "InvalidParameterValue", "A parameter has an invalid value.") \
	X(INVALID_LISTENER_PORT, "InvalidParameterValue.InvalidListenerPort", \
		"The listener port is not available.") \
	X(DUPLICATED_LISTENER_PORT, "InvalidParameterValue.DuplicatedListenerPort", \
		"The listener port already exists.") \
	X(LIMIT_NUM_OF_LISTENER, "FailedOperation.LimitNumofListener", \
		"The number of listeners exceeds the limit.") \
	X(PROXY_STATUS_NOT_IN_RUNING, "FailedOperation.ProxyStatusNotInRuning", \
		"The proxy is not running; listeners cannot be added.") \
	X(INSTANCE_STATUS_NOT_IN_RUNING, "FailedOperation.InstanceStatusNotInRuning", \
		"The instance is not running; the operation cannot be performed.") \
	X(NOT_SUPPORT_PROXY_GROUP, "FailedOperation.NotSupportProxyGroup", \
		"This operation does not support proxy groups.") \
	X(RESOURCE_NOT_FOUND, "ResourceNotFound", "The resource does not exist.") \
	X(UNAUTHORIZED_OPERATION, "UnauthorizedOperation", "The operation is not authorized.") \
	X(FAILED_OPERATION, "FailedOperation", "The operation failed.") \
	X(INTERNAL_ERROR, "InternalError", "An internal error occurred.")

enum ctl_err {
#define CTL_ERR_ENUM(name, code, msg) CTL_E_##name,
	CTL_ERRORS(CTL_ERR_ENUM)
#undef CTL_ERR_ENUM
	CTL_E__COUNT
};

const char *ctl_err_code(enum ctl_err e);
const char *ctl_err_message(enum ctl_err e);

#endif
